"""IMGAPI manifest validation, defaults and rebuilding (SPEC §6, reference §2.2–2.4)."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.domain.manifest import (
    ManifestError,
    base_manifest,
    build_manifest,
    defaults_from,
    ostype_for,
    parse_manifest,
)

TIB = 1 << 40
UUID = "3a4f1b62-8c1e-4f5a-9d2b-0c6e7f8a9b10"
SHA1 = "0123456789abcdef0123456789abcdef01234567"
PARSE = "Could not parse image manifest."
INVALID = "Invalid image manifest."
MULTIPLE = "Multiple files inside manifest are not supported."


def hvm_manifest(**overrides: Any) -> dict:
    manifest = {
        "v": 2, "uuid": UUID, "owner": "930896af-bf8c-48d4-885c-6573a94b1853",
        "name": "centos-7", "version": "20240101", "state": "active", "disabled": False,
        "public": True, "published_at": "2024-01-01T00:00:00Z", "type": "zvol", "os": "linux",
        "files": [{"sha1": SHA1, "size": 123456, "compression": "gzip"}],
        "description": "CentOS 7 KVM image", "homepage": "https://example.com/centos",
        "requirements": {"min_platform": {"7.0": "20240101T000000Z"}},
        "image_size": 10240, "nic_driver": "virtio", "disk_driver": "virtio",
        "cpu_type": "host", "tags": {"erigones": ["linux", "base"], "resize": True,
                                     "deploy": True, "internal": False, "vendor": "acme"},
    }
    manifest.update(overrides)
    return manifest


def zone_manifest(**overrides: Any) -> dict:
    manifest = {
        "v": 2, "uuid": UUID, "name": "base-64", "version": "21.4.0", "type": "zone-dataset",
        "os": "smartos", "files": [{"sha1": SHA1, "size": 1000, "compression": "bzip2"}],
    }
    manifest.update(overrides)
    return manifest


def encode(manifest: Any) -> bytes:
    return json.dumps(manifest).encode()


def parse(manifest: Any, max_file_size: int = TIB) -> dict:
    return parse_manifest(encode(manifest), max_file_size=max_file_size)


def error_of(raw: bytes, max_file_size: int = TIB) -> str:
    with pytest.raises(ManifestError) as info:
        parse_manifest(raw, max_file_size=max_file_size)
    return str(info.value)


def without(manifest: dict, key: str) -> dict:
    return {k: v for k, v in manifest.items() if k != key}


# --- parse_manifest ----------------------------------------------------------------------------

def test_valid_hvm_manifest_is_returned() -> None:
    assert parse(hvm_manifest()) == hvm_manifest()


def test_valid_zone_manifest_without_os() -> None:
    manifest = without(zone_manifest(type="lx-dataset"), "os")
    assert parse(manifest) == manifest


def test_sha1_is_normalised_to_lower_case() -> None:
    files = [{"sha1": SHA1.upper(), "size": 5, "compression": "none"}]
    assert parse(hvm_manifest(files=files))["files"][0]["sha1"] == SHA1


def test_manifest_error_is_a_value_error() -> None:
    assert issubclass(ManifestError, ValueError)


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"{", b"{'uuid': 1}", b"\xff\xfe\x00garbage", b"[]", b"[1, 2]", b"null",
    b"42", b'"a string"', b"true", b"[" * 100000 + b"]" * 100000,
    b'{"size": ' + b"9" * 5000 + b"}",
])
def test_unparseable_or_non_object(raw: bytes) -> None:
    assert error_of(raw) == PARSE


def test_multiple_files() -> None:
    entry = {"sha1": SHA1, "size": 1, "compression": "gzip"}
    assert error_of(encode(hvm_manifest(files=[entry, entry]))) == MULTIPLE


@pytest.mark.parametrize("mutate", [
    lambda m: without(m, "uuid"),
    lambda m: {**m, "uuid": UUID.upper()},
    lambda m: {**m, "uuid": UUID + "\n"},
    lambda m: {**m, "uuid": "not-a-uuid"},
    lambda m: {**m, "uuid": 42},
    lambda m: without(m, "name"),
    lambda m: {**m, "name": 7},
    lambda m: {**m, "name": ""},
    lambda m: without(m, "version"),
    lambda m: {**m, "version": 1.0},
    lambda m: without(m, "type"),
    lambda m: {**m, "type": ["zvol"]},
    lambda m: without(m, "os"),
    lambda m: {**m, "os": None},
    lambda m: {**m, "os": 3},
    lambda m: without(m, "files"),
    lambda m: {**m, "files": []},
    lambda m: {**m, "files": {"sha1": SHA1}},
    lambda m: {**m, "files": ["x"]},
    lambda m: {**m, "image_size": "10240"},
    lambda m: {**m, "image_size": 10.5},
    lambda m: {**m, "image_size": True},
    lambda m: {**m, "image_size": 0},
    lambda m: {**m, "image_size": None},
    lambda m: {**m, "tags": ["a"]},
    lambda m: {**m, "tags": None},
    lambda m: {**m, "description": 5},
], ids=lambda f: "")
def test_invalid_top_level(mutate) -> None:  # type: ignore[no-untyped-def]
    assert error_of(encode(mutate(hvm_manifest()))) == INVALID


@pytest.mark.parametrize("entry", [
    {"size": 1, "compression": "gzip"},
    {"sha1": SHA1[:-1], "size": 1, "compression": "gzip"},
    {"sha1": SHA1 + "0", "size": 1, "compression": "gzip"},
    {"sha1": "z" * 40, "size": 1, "compression": "gzip"},
    {"sha1": SHA1 + "\n", "size": 1, "compression": "gzip"},
    {"sha1": SHA1, "compression": "gzip"},
    {"sha1": SHA1, "size": 0, "compression": "gzip"},
    {"sha1": SHA1, "size": -1, "compression": "gzip"},
    {"sha1": SHA1, "size": True, "compression": "gzip"},
    {"sha1": SHA1, "size": "1", "compression": "gzip"},
    {"sha1": SHA1, "size": 1.0, "compression": "gzip"},
    {"sha1": SHA1, "size": TIB + 1, "compression": "gzip"},
    {"sha1": SHA1, "size": 1},
    {"sha1": SHA1, "size": 1, "compression": "zip"},
    {"sha1": SHA1, "size": 1, "compression": ["gzip"]},
])
def test_invalid_file_entry(entry: dict) -> None:
    assert error_of(encode(hvm_manifest(files=[entry]))) == INVALID


@pytest.mark.parametrize("compression", ["bzip2", "gzip", "xz", "none"])
def test_every_compression_is_accepted(compression: str) -> None:
    files = [{"sha1": SHA1, "size": 1, "compression": compression}]
    assert parse(hvm_manifest(files=files))["files"] == files


def test_file_size_cap_is_configurable() -> None:
    files = [{"sha1": SHA1, "size": 1000, "compression": "gzip"}]
    assert parse(hvm_manifest(files=files), max_file_size=1000)["files"][0]["size"] == 1000
    assert error_of(encode(hvm_manifest(files=files)), max_file_size=999) == INVALID


def test_optional_fields_may_be_absent() -> None:
    manifest = hvm_manifest()
    for key in ("image_size", "tags", "description"):
        manifest.pop(key)
    assert parse(manifest) == manifest


# --- ostype_for / defaults_from ----------------------------------------------------------------

@pytest.mark.parametrize(("type_", "os_", "ostype"), [
    ("zone-dataset", "smartos", 5), ("zone-dataset", None, 5), ("lx-dataset", "linux", 6),
    ("zvol", "smartos", 2), ("zvol", "SmartOS", 2), ("zvol", "illumos", 2), ("zvol", "linux", 1),
    ("zvol", "Linux", 1), ("zvol", "bsd", 3), ("zvol", "windows", 4), ("zvol", "other", 1),
    ("other", "plan9", 1), ("zvol", "WINDOWS", 4),
])
def test_ostype_for(type_: str, os_: str | None, ostype: int) -> None:
    assert ostype_for({"type": type_, "os": os_}) == ostype


def test_defaults_from_hvm_manifest() -> None:
    assert defaults_from(hvm_manifest()) == {
        "uuid": UUID, "ostype": 1, "size": 10240, "version": "20240101",
        "desc": "CentOS 7 KVM image", "tags": ["linux", "base"], "resize": True, "deploy": True,
    }


def test_defaults_from_bare_zone_manifest() -> None:
    assert defaults_from(zone_manifest()) == {
        "uuid": UUID, "ostype": 5, "size": 1024, "version": "21.4.0", "desc": "",
        "tags": [], "resize": True, "deploy": False,
    }


def test_defaults_from_bare_hvm_manifest_do_not_resize() -> None:
    manifest = without(without(hvm_manifest(), "tags"), "image_size")
    assert defaults_from(manifest)["resize"] is False
    assert defaults_from(manifest)["size"] == 1024


def test_description_is_cut_to_128() -> None:
    assert defaults_from(hvm_manifest(description="x" * 200))["desc"] == "x" * 128


@pytest.mark.parametrize("tags", [
    {"erigones": "linux"}, {"erigones": ["a", 1]}, {"erigones": None},
    {"resize": "yes", "deploy": 1},
])
def test_defaults_ignore_badly_typed_tags(tags: dict) -> None:
    defaults = defaults_from(zone_manifest(tags=tags))
    assert defaults["tags"] == []
    assert defaults["resize"] is True  # zone default
    assert defaults["deploy"] is False


def test_defaults_from_explicit_false_tags() -> None:
    defaults = defaults_from(zone_manifest(tags={"resize": False, "deploy": False}))
    assert (defaults["resize"], defaults["deploy"]) == (False, False)


def test_defaults_tags_list_is_a_copy() -> None:
    manifest = hvm_manifest()
    defaults_from(manifest)["tags"].append("new")
    assert manifest["tags"]["erigones"] == ["linux", "base"]


# --- base_manifest / build_manifest ------------------------------------------------------------

def test_base_manifest_drops_tags_only() -> None:
    manifest = hvm_manifest()
    original = copy.deepcopy(manifest)
    base = base_manifest(manifest)
    assert base == without(original, "tags")
    base["files"][0]["size"] = 1
    assert manifest == original


def record(**overrides: Any) -> dict:
    fields = {"uuid": UUID, "alias": "centos", "version": "7.1", "access": 3, "ostype": 1,
              "desc": "my image", "size": 20480, "tags": ["a", "b"], "resize": False,
              "deploy": True, "published_at": "2025-05-05T05:05:05Z"}
    fields.update(overrides)
    return fields


def test_build_hvm_manifest_from_imported_base() -> None:
    base = base_manifest(hvm_manifest())
    assert build_manifest(base, **record()) == {
        "v": 2, "uuid": UUID, "owner": "930896af-bf8c-48d4-885c-6573a94b1853",
        "name": "centos", "version": "7.1", "state": "active", "disabled": False,
        "public": False, "published_at": "2024-01-01T00:00:00Z", "type": "zvol", "os": "linux",
        "files": [{"sha1": SHA1, "size": 123456, "compression": "gzip"}],
        "description": "my image", "homepage": "https://example.com/centos",
        "requirements": {"min_platform": {"7.0": "20240101T000000Z"}},
        "image_size": 20480, "nic_driver": "virtio", "disk_driver": "virtio", "cpu_type": "host",
        "tags": {"erigones": ["a", "b"], "resize": False, "deploy": True, "internal": False},
    }


def test_build_from_empty_base_uses_template() -> None:
    assert build_manifest({}, **record(ostype=4)) == {
        "v": 2, "owner": "00000000-0000-0000-0000-000000000000", "uuid": UUID,
        "name": "centos", "version": "7.1", "state": "active", "disabled": False,
        "public": False, "os": "windows", "description": "my image", "image_size": 20480,
        "cpu_type": "qemu64", "type": "zvol", "published_at": "2025-05-05T05:05:05Z",
        "tags": {"erigones": ["a", "b"], "resize": False, "deploy": True, "internal": False},
    }


@pytest.mark.parametrize(("access", "public", "disabled", "internal"), [
    (1, True, False, False), (2, False, True, False), (3, False, False, False),
    (4, False, False, False), (9, False, True, True),
])
def test_access_flags(access: int, public: bool, disabled: bool, internal: bool) -> None:
    manifest = build_manifest({"disabled": True, "public": True, "state": "deleted"},
                              **record(access=access))
    assert (manifest["public"], manifest["disabled"], manifest["tags"]["internal"]) == (
        public, disabled, internal)
    assert manifest["state"] == "active"


@pytest.mark.parametrize(("ostype", "os_"), [(1, "linux"), (2, "illumos"), (3, "bsd"),
                                             (4, "windows"), (5, "smartos"), (6, "linux")])
def test_os_from_ostype(ostype: int, os_: str) -> None:
    assert build_manifest({"os": "other"}, **record(ostype=ostype))["os"] == os_


@pytest.mark.parametrize(("ostype", "type_"), [(5, "zone-dataset"), (6, "lx-dataset")])
def test_zone_manifest_drops_hvm_keys(ostype: int, type_: str) -> None:
    manifest = build_manifest(base_manifest(hvm_manifest()), **record(ostype=ostype))
    assert manifest["type"] == type_
    for key in ("image_size", "nic_driver", "disk_driver", "cpu_type"):
        assert key not in manifest


def test_hvm_keeps_type_other() -> None:
    assert build_manifest({"type": "other"}, **record())["type"] == "other"
    assert build_manifest({"type": "zone-dataset"}, **record())["type"] == "zvol"


def test_hvm_cpu_type_default_only_when_missing() -> None:
    assert build_manifest({"cpu_type": "host"}, **record())["cpu_type"] == "host"
    assert build_manifest({}, **record())["cpu_type"] == "qemu64"


def test_other_base_tags_are_kept_but_the_four_keys_forced() -> None:
    base = {"tags": {"vendor": "acme", "erigones": ["old"], "resize": True, "internal": True}}
    tags = build_manifest(base, **record())["tags"]
    assert tags == {"vendor": "acme", "erigones": ["a", "b"], "resize": False, "deploy": True,
                    "internal": False}


def test_published_at_is_given_value_only_when_missing() -> None:
    assert build_manifest({}, **record())["published_at"] == "2025-05-05T05:05:05Z"
    kept = build_manifest({"published_at": "2020-01-01T00:00:00Z"}, **record())
    assert kept["published_at"] == "2020-01-01T00:00:00Z"


def test_build_manifest_does_not_mutate_or_share_inputs() -> None:
    base = {**base_manifest(hvm_manifest()), "tags": {"vendor": {"nested": ["x"]}}}
    tags = ["a"]
    snapshot = copy.deepcopy(base)
    manifest = build_manifest(base, **record(ostype=5, tags=tags))
    manifest["files"][0]["size"] = 0
    manifest["tags"]["vendor"]["nested"].append("y")
    manifest["tags"]["erigones"].append("b")
    assert base == snapshot
    assert tags == ["a"]


def test_built_manifest_is_valid_for_import() -> None:
    # What the store serves must itself be importable by another Danube Cloud/this service.
    built = build_manifest(base_manifest(parse(hvm_manifest())), **record())
    assert parse(built) == built
