"""The operators' console served by the app (SPEC §13), over HTTP against the local stack: the
files with their types and security headers, 404 for anything else (traversal included), the
API base in the page, not an API route in the OpenAPI document, and the store's CORS answer to
the console's upload parts (a browser's preflight, as S3 answers it)."""
from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from chalicelib.domain import console_files
from infra import store_cors
from tests.integration.upload_support import manifest_for, open_upload, part_urls
from tests.support import Api

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


def root(stack) -> str:
    """http://127.0.0.1:<port>, where the gateway serves /api/ and /console/."""
    parts = urlsplit(stack.api_url)
    return f"{parts.scheme}://{parts.netloc}"


def raw_get(stack, path: str) -> http.client.HTTPResponse:
    """The path exactly as written (requests would normalise `..` and `%2e`)."""
    host = urlsplit(stack.api_url).netloc
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.mark.parametrize("where", ["/console/", "/api/console/"])
def test_every_file_is_served_with_its_type_and_the_security_headers(server, where):
    for path, kind in console_files.FILES.items():
        url = root(server) + where + ("" if path == console_files.INDEX else path)
        answer = requests.get(url, timeout=30)
        assert answer.status_code == 200, (url, answer.text)
        assert answer.headers["Content-Type"] == kind
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self';" in policy
        assert answer.headers["ETag"] and answer.headers["Cache-Control"]
        if path == console_files.INDEX:
            # the page finds the API without configuration: the stage's base, from the request
            assert '<meta name="imageapi-base" content="/api/">' in answer.text
            assert answer.headers["Cache-Control"] == "no-cache"
            assert console_files.BASE_PLACEHOLDER not in answer.text


def test_a_file_not_changed_is_not_sent_again(server):
    url = root(server) + "/console/js/app.js"
    first = requests.get(url, timeout=30)
    again = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    changed = requests.get(url, headers={"If-None-Match": '"other"'}, timeout=30)
    assert changed.status_code == 200 and changed.content == first.content


def test_the_console_without_its_slash_redirects_to_it(server):
    answer = requests.get(root(server) + "/console", allow_redirects=False, timeout=30)
    assert answer.status_code == 301 and answer.headers["Location"] == "/api/console/"


@pytest.mark.parametrize("path", [
    "/console/app.py", "/console/../app.py", "/console/js/../../app.py",
    "/console/%2e%2e/app.py", "/console/js/%2e%2e%2f%2e%2e%2fapp.py",
    "/console/..%2fapp.py", "/console/js/..%2f..%2fapi%2fconsole.py",
    "/console/%2fetc%2fpasswd", "/console/js/vendor.js", "/console/index.html%00",
    "/console/js/sha1.js%00.html", "/console/chalicelib/config.py", "/console/console.css.map",
    "/api/console/..%2f..%2fapp.py", "/console/js/app.js?x=../../app.py&",
])
def test_anything_else_is_404(server, path):
    answer = raw_get(server, path)
    if path.endswith("&"):  # a query string does not change which file is served
        assert answer.status == 200
        return
    assert answer.status == 404, path
    assert answer.getheader("Content-Type") == "application/json"


def test_the_console_is_no_api_route_in_the_openapi_document(clean):
    document = requests.get(clean.api_url + "/openapi.json", timeout=30).json()
    assert not [path for path in document["paths"] if path.startswith("/console")]
    # ... and it needs no key, as the page holds no data
    assert requests.get(root(clean) + "/console/", timeout=30).status_code == 200


def _part_url(server) -> str:
    api = Api(server.api_url, server.admin_key)
    task = open_upload(api, "console-cors", manifest_for(b"x" * 10))
    return part_urls(api, task, [1])["1"]


def test_the_csp_admits_the_store_where_parts_go(server):
    store = console_files.origin_of(_part_url(server))
    policy = requests.get(root(server) + "/console/", timeout=30).headers[
        "Content-Security-Policy"]
    assert f"connect-src 'self' {store};" in policy


def test_the_store_answers_the_consoles_preflight_as_s3_does(server):
    url = _part_url(server)
    console = root(server)
    rules = boto3.client("s3").get_bucket_cors(Bucket=server.bucket)["CORSRules"]
    assert [{k: v for k, v in rule.items() if k != "ID"} for rule in rules] == \
        store_cors.bucket_rules([console, console.replace("127.0.0.1", "localhost")])["CORSRules"]

    def preflight(origin: str, method: str = "PUT", headers: str = "") -> requests.Response:
        sent = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers:
            sent["Access-Control-Request-Headers"] = headers
        return requests.options(url, headers=sent, timeout=30)

    allowed = preflight(console, headers="Content-Type")
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["Access-Control-Allow-Origin"] == console
    assert "PUT" in allowed.headers["Access-Control-Allow-Methods"]
    assert allowed.headers["Access-Control-Allow-Headers"] == "content-type"
    for refused in (preflight("http://elsewhere.example"), preflight(console, "DELETE"),
                    preflight(console, headers="x-evil")):
        assert refused.status_code == 403
        assert "<Code>AccessForbidden</Code>" in refused.text
        assert "Access-Control-Allow-Origin" not in refused.headers
    # the part itself, PUT as the browser sends it, carries the CORS answer too
    put = requests.put(url, data=b"x" * 10, headers={"Origin": console}, timeout=30)
    assert put.status_code == 200 and put.headers["Access-Control-Allow-Origin"] == console


def test_a_bucket_without_cors_refuses_every_preflight(server):
    url = _part_url(server)
    s3 = boto3.client("s3")
    saved = s3.get_bucket_cors(Bucket=server.bucket)["CORSRules"]
    s3.delete_bucket_cors(Bucket=server.bucket)
    try:
        answer = requests.options(url, headers={"Origin": root(server),
                                                "Access-Control-Request-Method": "PUT"},
                                  timeout=30)
        assert answer.status_code == 403
        assert "CORS is not enabled for this bucket" in answer.text
    finally:
        s3.put_bucket_cors(Bucket=server.bucket, CORSConfiguration={"CORSRules": saved})


@pytest.mark.parametrize("name", [
    "../app.py", "../../app.py", "js/../../app.py", "/etc/passwd", "js/../index.html/../../app.py",
    "../api/console.py", "..", ".", "js", "js/", "js/vendor/x.js", "JS/APP.JS", "index.html\x00",
])
def test_names_as_api_gateway_decodes_them_find_nothing(name):
    """Deployed, API Gateway hands the Lambda decoded path parameters (`..%2f` is `../`): the
    service looks a name up in the file map and never joins it to a folder."""
    from chalicelib.services.console import static_files
    assert static_files.answer(name, "/api/console/" + name, None) is None
    assert static_files.answer("js/app.js", "/api/console/js/app.js", None) is not None
