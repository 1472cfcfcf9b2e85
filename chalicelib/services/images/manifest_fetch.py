"""Fetching and checking the manifest of an import (SPEC §4.3, §6, §7)."""
from __future__ import annotations

from typing import Any

from chalicelib.adapters import sources
from chalicelib.config import settings
from chalicelib.domain import field_texts, limits
from chalicelib.domain import manifest as imgmanifest
from chalicelib.domain.image_form import Errors
from chalicelib.domain.urlpolicy import check_url_syntax
from chalicelib.services.images.new_manifest import Fetched


def default_file_url(manifest_url: str) -> str:
    return manifest_url.strip("/") + "/file"


def fetch_for_import(data: dict[str, Any], errs: Errors) -> Fetched | None:
    """Validate manifest_url/file_url, fetch and check the manifest; errors go into `errs`."""
    manifest_url = data.get("manifest_url")
    if manifest_url is None or manifest_url == "":
        errs.add("manifest_url", field_texts.REQUIRED)
        return None
    if not _url_ok("manifest_url", manifest_url, errs):
        return None
    file_url = data.get("file_url")
    if file_url in (None, ""):
        file_url = default_file_url(manifest_url)
    elif not _url_ok("file_url", file_url, errs):
        return None

    cfg = settings()
    try:
        raw = sources.fetch_bytes(manifest_url, policy=sources.configured_policy(),
                                  max_bytes=cfg.manifest_max_bytes, timeout=cfg.manifest_timeout)
    except sources.SourceError as exc:
        errs.add("manifest_url", field_texts.manifest_unreachable(exc.reason))
        return None
    try:
        manifest = imgmanifest.parse_manifest(raw, max_file_size=cfg.file_max_bytes)
    except imgmanifest.ManifestError as exc:
        errs.add("manifest_url", str(exc))
        return None
    base = imgmanifest.base_manifest(manifest)
    if not limits.stored_manifest_fits(base):  # DynamoDB would refuse the image's item
        errs.add("manifest_url", field_texts.manifest_too_large(limits.MAX_STORED_MANIFEST_BYTES))
        return None
    return Fetched(manifest_url, file_url, manifest, base, imgmanifest.defaults_from(manifest),
                   raw=raw)


def _url_ok(field: str, value: Any, errs: Errors) -> bool:
    error = check_url_syntax(value) if isinstance(value, str) else field_texts.INVALID_URL
    if error:
        errs.add(field, error)
    return error is None
