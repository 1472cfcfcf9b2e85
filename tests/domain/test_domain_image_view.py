"""How an image is shown (SPEC §3, §4.2) and task-log details: chalicelib/domain/image_view.py."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from chalicelib.domain import image_view as view

ORDER = ["dc_bound", "name", "uuid", "alias", "version", "owner", "access", "desc", "ostype",
         "size", "resize", "deploy", "tags", "status", "created"]
CREATED = datetime(2018, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
UUID = "3a4f1b62-8c1e-4f5a-9d2b-0c6e7f8a9b10"


def record(**overrides):
    values = {
        "name": "centos-7", "uuid": UUID, "alias": "centos", "version": "1.0.0", "owner": "admin",
        "access": 1, "desc": "CentOS 7", "ostype": 1, "size": 10240, "resize": True,
        "deploy": False,
        "tags": ["linux", "os:centos"], "status": 1, "created": CREATED, "dc_bound": "main",
        "dcs": ["zeta", "main"], "rev": 1,
        # internal attributes that must never be rendered
        "manifest": {"v": 2}, "manifest_active": {"v": 2}, "backup": {"alias": "x"},
        "vm_uuid": None,
        "failure": None,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_field_order_is_exact():
    assert list(view.FIELDS) == ORDER
    assert list(view.render(record())) == ORDER


def test_render_values():
    assert view.render(record()) == {
        "dc_bound": True, "name": "centos-7", "uuid": UUID, "alias": "centos",
        "version": "1.0.0", "owner": "admin", "access": 1, "desc": "CentOS 7", "ostype": 1,
        "size": 10240, "resize": True, "deploy": False, "tags": ["linux", "os:centos"],
        "status": 1, "created": "2018-01-01T10:00:00.123456Z",
    }


def test_extended_adds_sorted_dcs_and_the_files_digests_last():
    rendered = view.render(record(), extended=True)
    assert list(rendered) == ORDER + ["dcs", "sha1", "sha256", "signed_by"]
    assert rendered["dcs"] == ["main", "zeta"]
    assert rendered["signed_by"] is None


def test_extended_shows_the_verified_signer_from_the_stored_manifest():
    """From the manifest the digests come from (an import still running shows none yet)."""
    manifest = {"v": 2, "tags": {"signed_by": "00D01181D00088DD"}}
    signed = record(manifest=manifest, manifest_active=manifest)
    assert view.render(signed, extended=True)["signed_by"] == "00D01181D00088DD"
    assert "signed_by" not in view.render(signed)
    assert view.render(record(manifest=manifest), extended=True)["signed_by"] is None


@pytest.mark.parametrize("active, expected", [
    (None, (None, None)),                                    # no file yet (a pending import)
    ({"v": 2}, (None, None)),
    ({"files": [{"sha1": "a" * 40, "size": 1}]}, ("a" * 40, None)),  # before the backfill
    ({"files": [{"sha1": "a" * 40, "sha256": "b" * 64}]}, ("a" * 40, "b" * 64)),
])
def test_extended_shows_the_stored_files_digests(active, expected):
    rendered = view.render(record(manifest_active=active), extended=True)
    assert (rendered["sha1"], rendered["sha256"]) == expected


@pytest.mark.parametrize("dcs, expected", [(None, []), ([], []), (("b", "a"), ["a", "b"])])
def test_extended_dcs_values(dcs, expected):
    assert view.render(record(dcs=dcs), extended=True)["dcs"] == expected


def test_not_extended_has_no_dcs():
    assert not {"dcs", "sha1", "sha256"} & set(view.render(record(), extended=False))


@pytest.mark.parametrize("dc_bound, expected", [("main", True), ("other", True), (None, False)])
def test_dc_bound_is_a_bool(dc_bound, expected):
    assert view.render(record(dc_bound=dc_bound))["dc_bound"] is expected


def test_empty_and_missing_values():
    rendered = view.render(record(desc=None, tags=None, resize=None, deploy=None))
    assert rendered["desc"] == ""
    assert rendered["tags"] == []
    assert rendered["resize"] is False
    assert rendered["deploy"] is False


def test_numbers_become_ints():
    rendered = view.render(record(access=Decimal("3"), ostype=Decimal("5"), size=1024.0,
                                  status=Decimal("2"), tags=("a", "b")))
    assert rendered["access"] == 3 and type(rendered["access"]) is int
    assert rendered["ostype"] == 5 and type(rendered["ostype"]) is int
    assert rendered["size"] == 1024 and type(rendered["size"]) is int
    assert rendered["status"] == 2 and type(rendered["status"]) is int
    assert rendered["tags"] == ["a", "b"]


def test_tags_are_a_copy():
    tags = ["a"]
    rendered = view.render(record(tags=tags))
    rendered["tags"].append("b")
    assert tags == ["a"]


@pytest.mark.parametrize("created, expected", [
    (datetime(2018, 1, 1, 10, 0, 0, 123456, tzinfo=UTC), "2018-01-01T10:00:00.123456Z"),
    (datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=UTC), "2024-02-29T23:59:59.000001Z"),
    (datetime(2024, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
     "2023-12-31T23:30:00.000000Z"),
    (datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
     "2024-06-01T17:00:00.000000Z"),
])
def test_created_iso_utc_z(created, expected):
    text = view.render(record(created=created))["created"]
    assert text == expected
    assert datetime.fromisoformat(text[:-1] + "+00:00") == created


def test_iso_none():
    assert view.iso(None) is None
    assert view.render(record(created=None))["created"] is None


# --------------------------------------------------------------------------- ETag
def test_etag_format():
    tag = view.etag(record())
    assert re.fullmatch(r'"[0-9a-f]{20}"', tag)


def test_etag_stable_for_same_rev():
    assert view.etag(record(rev=7)) == view.etag(record(rev=7, alias="changed", desc="x"))


def test_etag_changes_with_rev():
    tags = {view.etag(record(rev=rev)) for rev in range(50)}
    assert len(tags) == 50


@pytest.mark.parametrize("change", [{"name": "other"}, {"uuid": UUID.replace("3", "4")}])
def test_etag_changes_with_identity(change):
    assert view.etag(record(rev=1)) != view.etag(record(rev=1, **change))


# --------------------------------------------------------------------------- log detail
@pytest.mark.parametrize("fields, expected", [
    ({}, ""),
    ({"alias": "foo"}, "alias='foo'"),
    ({"desc": ""}, "desc=''"),
    ({"resize": True}, "resize=true"),
    ({"deploy": False}, "deploy=false"),
    ({"tags": ["a", "b", "c"]}, "tags=a,b,c"),
    ({"tags": []}, "tags="),
    ({"tags": ("x",)}, "tags=x"),
    ({"owner": None}, "owner=null"),
    ({"access": 3}, "access=3"),
    ({"size": 1.5}, "size=1.5"),
    ({"manifest_url": "http://h/m", "dc_bound": True, "tags": ["a", "b"], "desc": None,
      "access": 1},
     "manifest_url='http://h/m' dc_bound=true tags=a,b desc=null access=1"),
])
def test_log_detail(fields, expected):
    assert view.log_detail(fields) == expected


def test_log_detail_keeps_key_order():
    assert view.log_detail({"b": 1, "a": 2}) == "b=1 a=2"
