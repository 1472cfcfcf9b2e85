"""Property: no input makes any route answer 5xx (SPEC §1.1: a 5xx is a bug).

Arbitrary JSON bodies, query strings and path segments go to every route with every method.
URL-looking values are kept off the network: a manifest URL is either not http(s) or points
at a private address, which the source policy refuses before any DNS query or connection.
"""
from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Api

FIELDS = ["manifest_url", "file_url", "alias", "version", "access", "owner", "desc", "resize",
          "deploy", "tags", "dc_bound", "dc", "disk_id", "order_by", "full", "extended",
          "limit", "cursor", "name", "uuid", "status"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
safe_urls = st.sampled_from([
    "http://10.0.0.1/m", "https://192.168.1.1/m", "http://169.254.169.254/latest",
    "http://[fd00::1]/x", "ftp://example/x", "not-a-url", "http://", "https://0.0.0.0/",
])


@st.composite
def bodies(draw):
    body = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
    for key in ("manifest_url", "file_url"):
        if key in body and isinstance(body[key], str) and body[key].lower().startswith("http"):
            body[key] = draw(safe_urls)
    if draw(st.booleans()):
        body["manifest_url"] = draw(safe_urls)
    return body


segments = st.text(min_size=1, max_size=40).map(lambda s: quote(s, safe=""))
paths = st.one_of(
    st.just("/image"), st.just("/ping"),
    segments.map(lambda n: f"/image/{n}"),
    segments.map(lambda n: f"/image/{n}/vm"),
    st.tuples(segments, segments, segments).map(
        lambda t: f"/vm/{t[0]}/snapshot/{t[1]}/image/{t[2]}"),
)
queries = st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=20), max_size=4)
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(method=st.sampled_from(METHODS), path=paths, body=bodies(), query=queries)
def test_json_requests_never_5xx(stack, method, path, body, query):
    api = Api(stack.api_url, stack.admin_key)
    r = api.request(method, path, params=query, data=json.dumps(body))
    assert r.status_code < 500, (method, path, body, query, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json")


@FUZZ
@given(method=st.sampled_from(METHODS), path=paths, raw=st.binary(max_size=64),
       content_type=st.sampled_from(["application/json", "application/json; indent=4",
                                     "text/plain", "application/x-www-form-urlencoded", ""]))
def test_raw_bodies_never_5xx(stack, method, path, raw, content_type):
    api = Api(stack.api_url, stack.admin_key)
    r = api.request(method, path, data=raw, headers={"Content-Type": content_type})
    assert r.status_code < 500, (method, path, raw, r.text)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, key=st.one_of(st.none(), st.text(max_size=30)))
def test_unauthenticated_requests_never_5xx(stack, path, key):
    # a value HTTP can carry (requests refuses leading/trailing whitespace before sending)
    sendable = key and key.isprintable() and key.isascii() and key == key.strip()
    headers = {"ES-API-KEY": key} if sendable else {}
    r = Api(stack.api_url, None).request("GET", path, headers=headers)
    assert r.status_code < 500
    if not path.startswith("/ping"):
        assert r.status_code in (401, 404, 405)
