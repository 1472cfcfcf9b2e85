"""HTTP conventions Danube Cloud clients rely on (SPEC §1)."""
from __future__ import annotations

import requests


def test_ping_needs_no_key(clean):
    r = clean.api(None).get("/ping")
    assert r.status_code == 200 and r.json()["result"] == "pong"


def test_trailing_slash_is_optional(admin):
    assert admin.get("/image", slash=True).status_code == 200
    assert admin.get("/image", slash=False).status_code == 200


def test_missing_and_invalid_keys(clean):
    r = clean.api(None).get("/image")
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}
    r = clean.api("wrong").get("/image")
    assert r.status_code == 401 and r.json() == {"detail": "Invalid API key."}


def test_token_authorization_header(clean):
    r = requests.get(clean.api_url + "/image/", timeout=10,
                     headers={"Authorization": f"Token {clean.admin_key}"})
    assert r.status_code == 200


def test_headers_on_every_response(admin):
    for r in (admin.get("/image"), admin.get("/image/none")):
        assert {"es_version", "es_dc", "es_username"} <= {k.lower() for k in r.headers}
        assert r.headers["es_username"] == "admin"
    r = admin.get("/image")
    assert r.headers["es_task_id"] == r.json()["task_id"]


def test_malformed_json(admin):
    for body in (b"{not json", b"[1, 2]", b'"text"'):
        r = admin.request("POST", "/image/x", data=body)
        assert r.status_code == 400 and r.json() == {"detail": "Malformed request"}


def test_unknown_route_and_wrong_method(admin):
    assert admin.get("/nothing/here").status_code == 404
    r = admin.request("PATCH", "/image/")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET"  # RFC 9110
    assert admin.request("POST", "/image").status_code == 405
    assert admin.request("PATCH", "/image/img1").headers["Allow"] == "GET, POST, PUT, DELETE"


def test_content_types_clients_send(admin, files):
    url = files.publish(files.manifest())
    for content_type in ("application/json", "application/json; indent=4", "text/plain"):
        r = admin.request("PUT", "/image/absent", data=b'{"desc": "x"}',
                          headers={"Content-Type": content_type})
        assert r.status_code == 404, (content_type, r.text)
    r = admin.request("POST", "/image/ct", data=f'{{"manifest_url": "{url}", "dc": "main"}}',
                      headers={"Content-Type": "application/json; indent=4"})
    assert r.status_code == 200, r.text


def test_flags_in_query_string_spellings(admin, files):
    admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "main"})
    for flag in ("true", "True", "TRUE", "t", "T", "1"):
        assert isinstance(admin.get("/image", params={"full": flag}).json()["result"][0], dict)
    for flag in ("false", "False", "FALSE", "f", "F", "0"):
        assert admin.get("/image", params={"full": flag}).json()["result"] == ["img1"]


def test_validation_failure_envelope(admin):
    r = admin.post("/image/img1", {})
    body = r.json()
    assert r.status_code == 400 and body["status"] == "FAILURE"
    assert body["task_id"] and r.headers["es_task_id"] == body["task_id"]


def test_options_describes_the_route_for_es_help(clean):
    """SPEC §4.12: what `es help /image/<name>` prints, without a key."""
    from tests.support import Api
    anonymous = Api(clean.api_url, None)
    r = anonymous.request("OPTIONS", "/image/img1")
    assert r.status_code == 200, r.text
    assert r.headers["Allow"] == "GET, POST, PUT, DELETE"
    body = r.json()
    assert body["url"] == "/image/{name}" and set(body["methods"]) == {"GET", "POST", "PUT",
                                                                        "DELETE"}
    post = body["methods"]["POST"]
    assert post["asynchronous"] is True and not body["methods"]["GET"]["asynchronous"]
    assert {"name": "name", "in": "path", "required": True} in post["parameters"]
    assert {"manifest_url", "dc", "cb_url"} <= set(post["body"])
    assert "import admins" in post["permissions"]
    for path in ("/image", "/task/x/cancel", "/vm/v/snapshot/s/image/n", "/ping",
                 "/accounts/login", "/exports/t/parts"):
        r = anonymous.request("OPTIONS", path)
        assert r.status_code == 200 and r.json()["methods"], path
        assert all(m["permissions"] and m["summary"] for m in r.json()["methods"].values())


def test_options_through_danube_clouds_client(clean):
    from esdc_api import Client
    answer = Client(clean.api_url).options("/task/log")
    assert answer.ok and answer.content.result["methods"]["GET"]["permissions"].startswith(
        "admins of the DC")
