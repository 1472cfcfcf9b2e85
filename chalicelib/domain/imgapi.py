"""IMGAPI as its clients know it (SPEC §4.10): the ping, the manifest a DC's IMGAPI serves,
ListImages' filters and its `marker`/`limit` paging, and the node token in a source URL.

Read from Joyent's code: sdc-clients 13.0.6 `lib/imgapi.js` (the client imgadm uses),
smartos-live `src/img/lib/sources/imgapi.js` (imgadm accepts a source whose ping answers 200
JSON with a true `imgapi`), node-imgmanifest 3.2.1 `validateDcManifest`.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import errors, field_texts
from chalicelib.domain.fields import is_uuid

# The IMGAPI base path on the API's own host (and on the CloudFront distribution in AWS):
# Danube Cloud's `/api/ping` keeps its envelope, and one origin path maps both in AWS.
BASE_PATH = "/imgapi"
# The IMGAPI API version this source speaks (imgadm asks for `~2`).
VERSION = "2.0.0"
PING: dict[str, Any] = {"ping": "pong", "imgapi": True, "version": VERSION}

FILTERS = ("name", "version", "os", "type")
MAX_LIMIT = 1000  # IMGAPI's default and largest page; the client pages by 1000 when unasked
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?$")

Manifest = dict[str, Any]
HeaderGetter = Callable[[str], "str | None"]


# SmartOS's drivers for an HVM (zvol) image whose source named none: `validateDcManifest`
# requires both for a zvol, and virtio is what SmartOS's KVM/bhyve guests use by default.
ZVOL_DRIVER_DEFAULTS = {"nic_driver": "virtio", "disk_driver": "virtio"}


def dc_manifest(manifest: Manifest) -> Manifest:
    """The manifest as a DC's IMGAPI serves it (valid for `validateDcManifest`): only
    activated images are served, and the stored manifest has no `activated` key; a zvol
    gets the drivers it must name."""
    served = {**manifest, "activated": True}
    if isinstance(served.get("published_at"), str):
        served["published_at"] = imgapi_time(served["published_at"])
    if served.get("type") == "zvol":
        for key, value in ZVOL_DRIVER_DEFAULTS.items():
            served.setdefault(key, value)
    return served


_IMGAPI_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


def imgapi_time(value: str) -> str:
    """A time as IMGAPI writes it (`YYYY-MM-DDTHH:MM:SS(.SSS)Z`, what `validateDcManifest`
    accepts): this service's own times carry microseconds."""
    if _IMGAPI_TIME.match(value):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # not a time at all: the validator says so, nothing to repair
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def presented_node_token(header: HeaderGetter) -> str | None:
    """The node token from `ES-NODE-TOKEN`, `Authorization: Token <t>` or HTTP Basic's
    password (imgadm cannot set headers: `http://node:<token>@host/imgapi` becomes Basic)."""
    direct = (header("ES-NODE-TOKEN") or "").strip()
    if direct:
        return direct
    scheme, _, value = (header("Authorization") or "").strip().partition(" ")
    if scheme.lower() == "token" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        return basic_password(value.strip())
    return None


def basic_password(encoded: str) -> str | None:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    _user, colon, password = decoded.partition(":")
    return password if colon and password else None


def _matches(manifest: Manifest, key: str, wanted: str) -> bool:
    """IMGAPI's filter forms: `~x` substring (name, version), `!x` negation (os, type)."""
    value = str(manifest.get(key, ""))
    if key in ("name", "version") and wanted.startswith("~"):
        return wanted[1:] in value
    if key in ("os", "type") and wanted.startswith("!"):
        return value != wanted[1:]
    return value == wanted


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return MAX_LIMIT
    if not raw.isdigit():
        raise errors.field_error("limit", field_texts.WHOLE_NUMBER)
    limit = int(raw)
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.field_error("limit", field_texts.INVALID_VALUE)
    return limit


def _order(manifest: Manifest) -> tuple[str, str]:
    return (str(manifest.get("published_at") or ""), str(manifest.get("uuid") or ""))


def page(manifests: Iterable[Manifest], params: dict[str, str]) -> list[Manifest]:
    """One page of ListImages: filtered, ordered by `published_at` (then uuid), from `marker`
    on — inclusive, as IMGAPI's is (the client drops a first item equal to its marker) — at
    most `limit` long. A marker is an image's uuid or a date."""
    limit = parse_limit(params.get("limit"))
    wanted = {key: params[key] for key in FILTERS if params.get(key)}
    ordered = sorted((m for m in manifests
                      if all(_matches(m, key, value) for key, value in wanted.items())),
                     key=_order)
    marker = (params.get("marker") or "").strip()
    if marker:
        ordered = [m for m in ordered if _order(m) >= _marker_key(marker, ordered)]
    return ordered[:limit]


def _marker_key(marker: str, ordered: list[Manifest]) -> tuple[str, str]:
    if is_uuid(marker.lower()):
        found = next((m for m in ordered if str(m.get("uuid")) == marker.lower()), None)
        if found is None:  # not (or no longer) listed: nothing to page from
            raise errors.field_error("marker", field_texts.INVALID_VALUE)
        return _order(found)
    if _ISO_DATE.match(marker):
        return (marker, "")
    raise errors.field_error("marker", field_texts.INVALID_VALUE)
