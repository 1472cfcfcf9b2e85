"""Input that used to answer 500 (issue 9.8, 9.9): each is a 4xx with a field or detail
message, and changes nothing."""
from __future__ import annotations

import base64
import json

import pytest

from chalicelib.persistence.models import Image
from tests.support import Api

LONG = "n" * 3000  # more than DynamoDB's 2048-byte key limit (moto does not enforce it)


@pytest.fixture
def admin(clean) -> Api:
    return Api(clean.api_url, clean.admin_key)


@pytest.fixture
def image(admin, files):
    r = admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "main"})
    assert r.status_code == 200, r.text
    return "img1"


def assert_4xx_with_message(r) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert body.get("detail") or body.get("result"), body


def test_deeply_nested_json(admin, image):
    nested = "[" * 5000 + "]" * 5000
    for body in (nested, '{"desc": ' + nested + "}", '{"tags": ' + "[" * 200 + "]" * 200 + "}"):
        r = admin.request("PUT", "/image/img1", data=body,
                          headers={"Content-Type": "application/json"})
        assert_4xx_with_message(r)
    assert Image.get("img1").desc == "CentOS 7 server image"  # unchanged


@pytest.mark.parametrize("method, path", [
    ("PUT", "/image/img1"), ("POST", "/image/img2"),
])
def test_empty_owner(admin, image, files, method, path):
    body = {"owner": ""}
    if method == "POST":
        body.update(manifest_url=files.publish(files.manifest(uuid=None)), dc="main")
    r = admin.request(method, path, json_body=body)
    assert r.status_code == 400, r.text
    assert r.json()["result"]["owner"] == ["This field may not be blank."]


def test_too_many_tags_and_too_long_ones(admin, image):
    r = admin.put("/image/img1", {"tags": [f"tag-{i:04d}-" + "x" * 90 for i in range(3000)]})
    assert r.status_code == 400
    assert r.json()["result"]["tags"] == ["Ensure this field has no more than 50 elements."]
    r = admin.put("/image/img1", {"tags": ["x" * 101]})
    assert r.status_code == 400 and r.json()["result"]["tags"]
    assert admin.put("/image/img1", {"tags": [f"t{i}" for i in range(50)]}).status_code == 200


@pytest.mark.parametrize("desc", ["nul\x00byte", "bidi \u202e override", "bell\x07", "esc\x1b[0m",
                                  "zero\u200bwidth", "line\nbreak"])
def test_control_characters_in_desc(admin, image, desc):
    r = admin.put("/image/img1", {"desc": desc})
    assert r.status_code == 400, r.text
    assert r.json()["result"]["desc"] == ["Enter a valid value."]


def forged(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/image", "/task/log"])
@pytest.mark.parametrize("cursor", [
    "garbage", "%%%", forged({"name": {"S": "x"}}), forged({"dc": {"N": "1"}, "sk": {"S": "a"}}),
    forged({"name": {"S": LONG}}), forged([1, 2]), forged({"name": {"S": ""}}),
    forged({"dc": {"S": "main"}, "sk": {"S": ""}}), base64.b64encode(b"\xff\xfe").decode(),
])
def test_forged_cursors(admin, image, path, cursor):
    r = admin.get(path, params={"cursor": cursor})
    assert_4xx_with_message(r)


@pytest.mark.parametrize("method, path", [
    ("GET", "/image//"), ("PUT", "/image//"), ("DELETE", "/image//"), ("GET", "/image//vm/"),
    ("GET", "/task//status/"), ("GET", "/task//"), ("PUT", "/task//cancel/"),
    ("GET", "/images//"), ("GET", "/images//file"), ("POST", "/vm//snapshot/s/image/x/"),
    ("POST", "/vm/v/snapshot//image/x/"), ("POST", "/vm/v/snapshot/s/image//"),
])
def test_empty_path_segments(admin, method, path):
    r = admin.request(method, path, json_body={}, slash=False)
    assert_4xx_with_message(r)


def test_a_dc_name_longer_than_a_key_may_be(admin):
    """The emulator answers such a query; DynamoDB refuses the key (a 500 in AWS)."""
    r = admin.get("/task/log", params={"dc": LONG})
    assert r.status_code == 404 and r.json() == {"detail": "Datacenter not found"}


@pytest.mark.parametrize("method, path", [
    ("GET", f"/image/{LONG}"), ("PUT", f"/image/{LONG}"), ("DELETE", f"/image/{LONG}"),
    ("POST", f"/image/{LONG}"), ("GET", f"/image/{LONG}/vm"),
    ("GET", f"/task/{LONG}/status"), ("GET", f"/task/eu-{LONG}"), ("PUT", f"/task/{LONG}/cancel"),
    ("GET", f"/images/{LONG}"), ("GET", f"/images/{LONG}/file"),
    ("POST", f"/vm/{LONG}/snapshot/s/image/x"), ("POST", f"/vm/web01/snapshot/{LONG}/image/x"),
    ("POST", f"/exports/eu-{LONG}/progress"),
])
def test_keys_longer_than_dynamodb_allows(admin, method, path):
    r = admin.request(method, path, json_body={})
    assert_4xx_with_message(r)
