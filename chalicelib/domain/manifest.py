"""IMGAPI manifest v2: validation of imported manifests and the manifest rebuilt from a record.

Pure logic (SPEC §6, reference §2.2–2.4). Nothing here mutates its inputs.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any

from chalicelib.domain.field_texts import (
    MANIFEST_INVALID as INVALID,
)
from chalicelib.domain.field_texts import (
    MANIFEST_MULTIPLE_FILES as MULTIPLE_FILES,
)
from chalicelib.domain.field_texts import (
    MANIFEST_PARSE_ERROR as PARSE_ERROR,
)
from chalicelib.domain.fields import is_uuid
from chalicelib.domain.image_view import iso
from chalicelib.domain.limits import MAX_DESC_CHARS
from chalicelib.domain.vocabulary import Access

OWNER_NOBODY = "00000000-0000-0000-0000-000000000000"
ZONE_TYPES = {"zone-dataset": 5, "lx-dataset": 6}
ZONE_OSTYPES = {ostype: type_ for type_, ostype in ZONE_TYPES.items()}
COMPRESSIONS = frozenset({"bzip2", "gzip", "xz", "none"})
DEFAULT_IMAGE_SIZE = 1024  # MB; zone images normally carry no image_size

_OS_TO_OSTYPE = {"smartos": 2, "illumos": 2, "linux": 1, "bsd": 3, "windows": 4}
_OSTYPE_TO_OS = {1: "linux", 2: "illumos", 3: "bsd", 4: "windows", 5: "smartos", 6: "linux"}
_HVM_ONLY_KEYS = ("image_size", "nic_driver", "disk_driver", "cpu_type")

_SHA1_RE = re.compile(r"[0-9a-fA-F]{40}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


Manifest = dict[str, Any]


class ManifestError(ValueError):
    """str() is one of PARSE_ERROR, INVALID or MULTIPLE_FILES (shown under `manifest_url`)."""


def parse_manifest(raw: bytes, *, max_file_size: int) -> Manifest:
    """Decode and validate an imported manifest; returns it with `files[0].sha1` (and `sha256`,
    when given) lower-cased."""
    manifest = _decode(raw)
    files = manifest.get("files")
    # Checked first: it is the most specific complaint about an otherwise plausible manifest.
    if isinstance(files, list) and len(files) > 1:
        raise ManifestError(MULTIPLE_FILES)
    _require(_valid_header(manifest))
    if not isinstance(files, list) or len(files) != 1:
        raise ManifestError(INVALID)
    manifest["files"] = [_valid_file(files[0], max_file_size)]
    return manifest


def _decode(raw: bytes) -> Manifest:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON/encoding, absurd nesting or int size
        raise ManifestError(PARSE_ERROR) from None
    if not isinstance(value, dict):
        raise ManifestError(PARSE_ERROR)
    return value


def _require(condition: bool) -> None:
    if not condition:
        raise ManifestError(INVALID)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _valid_header(manifest: Manifest) -> bool:
    """Everything but `files`."""
    uuid = manifest.get("uuid")
    if not is_uuid(uuid):
        return False
    if not all(_nonempty_str(manifest.get(key)) for key in ("name", "version", "type")):
        return False
    os_ = manifest.get("os")
    if manifest["type"] in ZONE_TYPES:  # zones may omit `os`; build_manifest sets it anyway
        os_ok = os_ is None or isinstance(os_, str)
    else:
        os_ok = _nonempty_str(os_)
    image_size = manifest.get("image_size", DEFAULT_IMAGE_SIZE)
    return (os_ok
            and _is_int(image_size) and image_size > 0
            and isinstance(manifest.get("tags", {}), dict)
            and isinstance(manifest.get("description", ""), str))


def _valid_file(entry: Any, max_file_size: int) -> Manifest:
    _require(isinstance(entry, dict))
    sha1, size = entry.get("sha1"), entry.get("size")
    _require(isinstance(sha1, str) and _SHA1_RE.fullmatch(sha1) is not None)
    _require(_is_int(size) and 0 < size <= max_file_size)
    compression = entry.get("compression")
    _require(isinstance(compression, str) and compression in COMPRESSIONS)
    if "sha256" not in entry:
        return {**entry, "sha1": sha1.lower()}
    sha256 = entry["sha256"]
    _require(isinstance(sha256, str) and _SHA256_RE.fullmatch(sha256) is not None)
    return {**entry, "sha1": sha1.lower(), "sha256": sha256.lower()}


def ostype_for(manifest: Manifest) -> int:
    """Image ostype from a validated manifest (reference §2.2)."""
    type_ = manifest.get("type")
    if isinstance(type_, str) and type_ in ZONE_TYPES:
        return ZONE_TYPES[type_]
    return _OS_TO_OSTYPE.get(str(manifest.get("os", "")).lower(), 1)


def defaults_from(manifest: Manifest) -> Manifest:
    """Image field defaults taken from a validated manifest (SPEC §4.3)."""
    ostype = ostype_for(manifest)
    tags = manifest.get("tags") or {}
    erigones = tags.get("erigones")
    if not (isinstance(erigones, list) and all(isinstance(t, str) for t in erigones)):
        erigones = []
    resize, deploy = tags.get("resize"), tags.get("deploy")
    return {
        "uuid": manifest["uuid"],
        "ostype": ostype,
        "size": manifest.get("image_size", DEFAULT_IMAGE_SIZE),
        "version": manifest["version"],
        "desc": (manifest.get("description") or "")[:MAX_DESC_CHARS],
        "tags": list(erigones),
        "resize": resize if isinstance(resize, bool) else ostype in ZONE_OSTYPES,
        "deploy": deploy if isinstance(deploy, bool) else False,
    }


def base_manifest(manifest: Manifest) -> Manifest:
    """What an import keeps as the base manifest: everything but the `tags` object."""
    return {key: copy.deepcopy(value) for key, value in manifest.items() if key != "tags"}


def build_manifest(base: Manifest, *, uuid: str, alias: str, version: str, access: int,
                   ostype: int, desc: str, size: int, tags: list[str], resize: bool,
                   deploy: bool, published_at: str) -> Manifest:
    """The manifest written to the store, rebuilt from the record over `base` (reference §2.4)."""
    manifest: dict[str, Any] = {"v": 2, "owner": OWNER_NOBODY, "state": "active",
                                "disabled": False, "public": False}
    manifest.update(copy.deepcopy(base))  # imported keys (files, requirements, ...) survive
    manifest.update({
        "uuid": uuid,
        "name": alias,
        "version": version,
        "state": "active",
        "disabled": access in (Access.DISABLED, Access.INTERNAL),
        "public": access == Access.PUBLIC,
        "os": _OSTYPE_TO_OS[ostype],
        "description": desc,
    })
    old_tags = manifest.get("tags")  # already a deep copy of base["tags"]
    manifest["tags"] = {**(old_tags if isinstance(old_tags, dict) else {}),
                        "erigones": list(tags), "resize": resize, "deploy": deploy,
                        "internal": access == Access.INTERNAL}
    _apply_virtualisation(manifest, ostype, size, base.get("type"))
    if not manifest.get("published_at"):
        manifest["published_at"] = published_at
    return manifest


def file_digest(manifest: Manifest | None) -> str | None:
    """`<sha1>:<size>` of the manifest's file: what identifies it in the store."""
    files = (manifest or {}).get("files") or [{}]
    sha1, size = files[0].get("sha1"), files[0].get("size")
    return f"{str(sha1).lower()}:{int(size)}" if sha1 and isinstance(size, int) else None


def file_sha256(manifest: Manifest | None) -> str | None:
    """The SHA-256 of the manifest's file (None: not known yet, SPEC §4.14)."""
    files = (manifest or {}).get("files") or [{}]
    sha256 = files[0].get("sha256")
    return str(sha256) if sha256 else None


def record_manifest(record: Any, base: Manifest) -> Manifest:
    """`build_manifest` for an image record (or anything with its fields)."""
    return build_manifest(
        base or {}, uuid=record.uuid, alias=record.alias, version=record.version,
        access=int(record.access), ostype=int(record.ostype), desc=record.desc or "",
        size=int(record.size), tags=list(record.tags or []), resize=bool(record.resize),
        deploy=bool(record.deploy), published_at=iso(record.created) or "")


def _apply_virtualisation(manifest: Manifest, ostype: int, size: int, base_type: Any) -> None:
    """Zone images carry no HVM keys; HVM images get a disk size, CPU model and zvol type."""
    if ostype in ZONE_OSTYPES:
        for key in _HVM_ONLY_KEYS:
            manifest.pop(key, None)
        manifest["type"] = ZONE_OSTYPES[ostype]
        return
    manifest["image_size"] = size
    if not manifest.get("cpu_type"):
        manifest["cpu_type"] = "qemu64"
    manifest["type"] = "other" if base_type == "other" else "zvol"
