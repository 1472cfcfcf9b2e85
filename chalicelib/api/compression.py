"""Gzip'd answers: a long list (a full catalogue) is mostly repeated keys and compresses ten
times or more, which is what lets it fit Lambda's 6 MB response limit.

Through API Gateway (REST, Lambda proxy) a binary body travels base64-encoded in the proxy
response (`isBase64Encoded`), and API Gateway decodes it when the API's binary media types
match the request's Accept header (the template sets `*/*`). Base64 grows the body by 4/3:
that grown size is what Lambda's limit measures, so it is what the API checks.
"""
from __future__ import annotations

import base64
import gzip
from typing import Any

from chalice.app import Response

# Below this the saving is not worth the CPU (and small answers stay readable in logs).
MIN_BYTES = 16 * 1024


def accepted(headers: Any) -> bool:
    value = headers.get("accept-encoding") or headers.get("Accept-Encoding") or ""
    codings = {part.split(";")[0].strip().lower() for part in value.split(",")}
    return "gzip" in codings


def wanted(headers: Any, body: str) -> bool:
    return len(body) >= MIN_BYTES and accepted(headers)


def encode(body: str) -> str:
    """The base64 text of the gzip'd body (what the proxy response carries)."""
    return base64.b64encode(gzip.compress(body.encode("utf-8", "surrogatepass"), 6)).decode()


class GzipResponse(Response):
    """A Chalice response whose body is already base64 of gzip'd JSON. Chalice would only
    base64 a body itself for a binary Content-Type, and the answer stays application/json."""

    def to_dict(self, binary_types: list[str] | None = None) -> dict[str, Any]:
        response = super().to_dict(binary_types)
        response["isBase64Encoded"] = True
        return response
