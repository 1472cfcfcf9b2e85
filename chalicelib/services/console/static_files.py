"""Serve the console's files from the package: read once per process, kept in memory.

Which files exist and how they are sent is domain/console_files.py; this module reads them
and fills in what depends on the deployment (the API base, the store's origin)."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from chalicelib.domain import console_files
from chalicelib.domain.console_files import ConsoleFile

log = logging.getLogger("imageapi.console")
ROOT = Path(__file__).resolve().parent.parent.parent / "console"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@functools.cache
def _read(path: str) -> ConsoleFile:
    kind = console_files.content_type(path)
    assert kind is not None  # callers look the path up first
    return ConsoleFile(path, kind, (ROOT / path).read_bytes())


def _store_origin() -> str | None:
    """Where the browser PUTs upload parts (the origin of a presigned store URL); None without
    an image server."""
    from chalicelib.config import settings
    bucket = settings().image_store_bucket
    return _origin_of_store(bucket) if bucket else None


_store_origins: dict[str, str] = {}  # per bucket: a success is kept, a failure tried again


def _origin_of_store(bucket: str) -> str | None:
    """Presigned by botocore locally: no AWS call, once per process and bucket."""
    from chalicelib.adapters import store
    if bucket not in _store_origins:
        try:
            origin = console_files.origin_of(store.presign_download("console-origin-probe", 60))
        except Exception:  # no credentials to sign with (yet): uploads cannot work meanwhile
            log.warning("no store origin for the console's upload parts")
            return None
        if origin is None:
            return None
        _store_origins[bucket] = origin
    return _store_origins[bucket]


def security_headers() -> dict[str, str]:
    """The console's security headers, sent with every answer under /console/ (a 404, 301 or
    405 too: a browser may render any of them in the console's origin)."""
    return console_files.security_headers(_store_origin())


def answer(path: str, request_path: str, if_none_match: str | None) -> Answer | None:
    """The file at `path` (relative to /console/), or None for anything not in the console."""
    path = path or console_files.INDEX
    if console_files.content_type(path) is None:
        return None
    found = _read(path)
    cache = console_files.CACHE_CONTROL
    if path == console_files.INDEX:  # the page carries this deployment's API base
        base = console_files.api_base(request_path)
        found = ConsoleFile(path, found.content_type, found.body.replace(
            console_files.BASE_PLACEHOLDER.encode(), base.encode()))
        cache = console_files.CACHE_CONTROL_INDEX
    headers = {"Content-Type": found.content_type, "ETag": found.etag, "Cache-Control": cache,
               **security_headers()}
    if console_files.etag_matches(if_none_match, found.etag):
        return Answer(304, headers, b"")
    return Answer(200, headers, found.body)
