"""Fetching a manifest for an import, and rebuilding the manifest an image record implies."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import manifest as imgmanifest
from chalicelib.domain.fields import REQUIRED
from chalicelib.domain.image_form import Errors
from chalicelib.domain.image_view import iso
from chalicelib.domain.urlpolicy import SourcePolicy, check_url_syntax
from chalicelib import sources


@dataclass
class Fetched:
    manifest_url: str
    file_url: str
    manifest: dict[str, Any]
    base: dict[str, Any]
    defaults: dict[str, Any]


def source_policy() -> SourcePolicy:
    cfg = settings()
    return SourcePolicy(allow_loopback=cfg.source_allow_loopback,
                        allowed_networks=cfg.source_allow_networks)


def default_file_url(manifest_url: str) -> str:
    return manifest_url.strip("/") + "/file"


def fetch_for_import(data: dict[str, Any], errs: Errors) -> Fetched | None:
    """Validate manifest_url/file_url, fetch and check the manifest; errors go into `errs`."""
    manifest_url = data.get("manifest_url")
    if manifest_url is None or manifest_url == "":
        errs.add("manifest_url", REQUIRED)
        return None
    if not isinstance(manifest_url, str) or check_url_syntax(manifest_url):
        errs.add("manifest_url", check_url_syntax(manifest_url) if isinstance(manifest_url, str)
                 else "Enter a valid URL.")
        return None
    file_url = data.get("file_url")
    if file_url in (None, ""):
        file_url = default_file_url(manifest_url)
    elif not isinstance(file_url, str) or check_url_syntax(file_url):
        errs.add("file_url", check_url_syntax(file_url) if isinstance(file_url, str)
                 else "Enter a valid URL.")
        return None

    cfg = settings()
    try:
        raw = sources.fetch_bytes(manifest_url, policy=source_policy(),
                                  max_bytes=cfg.manifest_max_bytes, timeout=cfg.manifest_timeout)
    except sources.SourceError as exc:
        errs.add("manifest_url", f"Image manifest URL is unreachable ({exc.reason}).")
        return None
    try:
        manifest = imgmanifest.parse_manifest(raw, max_file_size=cfg.file_max_bytes)
    except imgmanifest.ManifestError as exc:
        errs.add("manifest_url", str(exc))
        return None
    return Fetched(manifest_url, file_url, manifest, imgmanifest.base_manifest(manifest),
                   imgmanifest.defaults_from(manifest))


def build_for(image: Any, base: dict[str, Any]) -> dict[str, Any]:
    """The manifest the image store should hold for this record (SPEC §6)."""
    return imgmanifest.build_manifest(
        base or {}, uuid=image.uuid, alias=image.alias, version=image.version,
        access=int(image.access), ostype=int(image.ostype), desc=image.desc or "",
        size=int(image.size), tags=list(image.tags or []), resize=bool(image.resize),
        deploy=bool(image.deploy), published_at=iso(image.created) or "")
