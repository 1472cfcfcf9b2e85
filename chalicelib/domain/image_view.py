"""How an image record is shown to API clients (SPEC §3 field order)."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.manifest_signer import signer_of
from chalicelib.domain.redaction import redact

FIELDS = ("dc_bound", "name", "uuid", "alias", "version", "owner", "access", "desc",
          "ostype", "size", "resize", "deploy", "tags", "status", "created")


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render(image: Any, *, extended: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "dc_bound": image.dc_bound is not None,
        "name": image.name,
        "uuid": image.uuid,
        "alias": image.alias,
        "version": image.version,
        "owner": image.owner,
        "access": int(image.access),
        "desc": image.desc or "",
        "ostype": int(image.ostype),
        "size": int(image.size),
        "resize": bool(image.resize),
        "deploy": bool(image.deploy),
        "tags": list(image.tags or []),
        "status": int(image.status),
        "created": iso(image.created),
    }
    if extended:
        view["dcs"] = sorted(image.dcs or [])
        view.update(file_digests(image.manifest_active))
        # SPEC §4.14; from the manifest the digests are read from: the image's as stored
        view["signed_by"] = signer_of(image.manifest_active)
    return view


def file_digests(manifest: dict[str, Any] | None) -> dict[str, str | None]:
    """The stored file's SHA-1 and SHA-256 (SPEC §4.14), in the `extended` view: None while
    the image has no file yet, and SHA-256 until an older image's backfill has run."""
    file = ((manifest or {}).get("files") or [{}])[0]
    return {"sha1": file.get("sha1"), "sha256": file.get("sha256")}


def etag(image: Any) -> str:
    """A strong validator that changes with every write of the record."""
    digest = hashlib.sha1(f"{image.name}:{image.uuid}:{image.rev}".encode(),
                          usedforsecurity=False).hexdigest()[:20]
    return f'"{digest}"'


def log_detail(fields: dict[str, Any]) -> str:
    """Task-log detail in Danube's `key=value` style."""
    parts = []
    for key, value in fields.items():
        if value is None:
            text = "null"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, str):
            text = "'" + redact(value) + "'"  # a URL's password is not for the log
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    return " ".join(parts)
