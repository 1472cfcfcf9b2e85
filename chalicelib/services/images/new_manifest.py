"""The manifest a new image comes with, however it came (fetched from a URL for an import, or
given in the request of an upload). Its own module, free of network code, so that the upload
path and the API's import stay light at cold start (requests loads with the first fetch)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Fetched:
    manifest_url: str          # "" for an upload's manifest
    file_url: str              # "" for an upload's manifest
    manifest: dict[str, Any]
    base: dict[str, Any]
    defaults: dict[str, Any]
    raw: bytes | None = None   # the manifest's exact bytes (None: an upload's JSON object)
