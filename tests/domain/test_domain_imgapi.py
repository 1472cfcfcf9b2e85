"""IMGAPI's rules as its clients know them (chalicelib/domain/imgapi.py)."""
from __future__ import annotations

import base64

import pytest

from chalicelib.domain import errors, imgapi


def _headers(**values: str):
    return lambda name: {k.lower(): v for k, v in values.items()}.get(name.lower())


def _basic(userinfo: bytes) -> str:
    return "Basic " + base64.b64encode(userinfo).decode()


@pytest.mark.parametrize(("headers", "token"), [
    ({"ES-NODE-TOKEN": " t1 "}, "t1"),
    ({"Authorization": "Token t2"}, "t2"),
    ({"Authorization": _basic(b"node:t3")}, "t3"),
    ({"Authorization": _basic(b"anyone:t:with:colons")}, "t:with:colons"),
    ({"Authorization": _basic(b"node:")}, None),
    ({"Authorization": _basic(b"no-colon")}, None),
    ({"Authorization": "Basic %%%not-base64"}, None),
    ({"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}, None),
    ({"Authorization": "Bearer t4"}, None),
    ({}, None),
])
def test_the_node_token_where_a_source_url_or_a_header_carries_it(headers, token):
    assert imgapi.presented_node_token(_headers(**headers)) == token


def test_a_dc_manifest_is_activated_and_a_zvol_names_its_drivers():
    zvol = imgapi.dc_manifest({"type": "zvol", "nic_driver": "e1000"})
    assert zvol == {"type": "zvol", "nic_driver": "e1000", "disk_driver": "virtio",
                    "activated": True}
    assert imgapi.dc_manifest({"type": "zone-dataset"}) == {"type": "zone-dataset",
                                                            "activated": True}


@pytest.mark.parametrize(("stored", "served"), [
    ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
    ("2024-01-01T00:00:00.123Z", "2024-01-01T00:00:00.123Z"),
    ("2026-12-07T03:52:01.123456Z", "2026-12-07T03:52:01.123Z"),   # this service's own times
    ("2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00.000Z"),
    ("not a time", "not a time"),
])
def test_published_at_as_imgapi_writes_it(stored, served):
    assert imgapi.dc_manifest({"published_at": stored})["published_at"] == served


MANIFESTS = [
    {"uuid": f"00000000-0000-4000-8000-00000000000{n}", "name": name, "version": "1.0",
     "os": os_, "type": "zvol", "published_at": published}
    for n, (name, os_, published) in enumerate([
        ("alpha", "linux", "2024-01-01T00:00:00Z"), ("alpha-two", "linux", "2024-01-01T00:00:00Z"),
        ("beta", "smartos", "2024-02-01T00:00:00Z")])]


def _uuids(params: dict[str, str]) -> list[str]:
    return [m["uuid"][-1] for m in imgapi.page(MANIFESTS, params)]


def test_filters_order_and_an_inclusive_marker():
    assert _uuids({}) == ["0", "1", "2"]
    assert _uuids({"name": "alpha"}) == ["0"]
    assert _uuids({"name": "~alpha"}) == ["0", "1"]
    assert _uuids({"os": "!linux"}) == ["2"]
    assert _uuids({"limit": "2"}) == ["0", "1"]
    # same published_at: the uuid orders them, so the marker's position is exact
    assert _uuids({"marker": MANIFESTS[1]["uuid"], "limit": "1"}) == ["1"]
    assert _uuids({"marker": "2024-02-01"}) == ["2"]


@pytest.mark.parametrize("params", [{"limit": "x"}, {"limit": "0"}, {"limit": "1001"},
                                    {"marker": "yesterday"},
                                    {"marker": "0b0b0b0b-0000-4000-8000-000000000000"}])
def test_bad_paging_is_a_field_error(params):
    with pytest.raises(errors.ValidationFailed) as failed:
        imgapi.page(MANIFESTS, params)
    assert set(failed.value.errors) == set(params)  # type: ignore[arg-type]
