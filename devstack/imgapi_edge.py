"""The local stack's edge for the IMGAPI base (`/imgapi`): what CloudFront does in AWS.

In AWS (infra/imgapi_edge.py) a CloudFront distribution serves the base: the file paths
`/imgapi/images/<uuid>/file` from the image store (Origin Access Control), after a CloudFront
Function checked the node token against its key-value store; every other `/imgapi/...` path
from API Gateway (the Lambda routes of chalicelib/api/imgapi.py). Here the gateway hands the
file paths to `serve_file`, which does the same: the token check, the store key, the viewer's
`Range` passed on, and the bytes streamed in chunks (a 1 GiB file never sits in memory).
"""
from __future__ import annotations

import base64
import hmac
import json
import re
from typing import Any

from chalicelib.domain import http_texts, imgapi
from devstack.edge_store import read_store_object

FILE_PATH = re.compile(r"^" + re.escape(imgapi.BASE_PATH)
                       + r"/images/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                       r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/file/?$")
CHUNK = 1 << 20
_MD5_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')


def serves(path: str) -> bool:
    """Whether a request path is under the IMGAPI base (the distribution's paths)."""
    base = imgapi.BASE_PATH
    return path == base or path.startswith((base + "/", base + "?"))


def file_uuid(path: str) -> str | None:
    """The image uuid of a file path (query string ignored, as the edge function does)."""
    match = FILE_PATH.match(path.partition("?")[0])
    return match.group(1).lower() if match else None


def _expected_token() -> str:
    """What the edge holds: in AWS the key-value store's entry, here the node token setting."""
    from chalicelib.adapters import secrets
    return secrets.node_token()


def token_refusal(headers: Any) -> str | None:
    """Why the request's node token is refused (None: accepted)."""
    presented = imgapi.presented_node_token(
        lambda name: headers.get(name) or headers.get(name.lower()))
    if not presented:
        return http_texts.NOT_AUTHENTICATED
    expected = _expected_token()
    if expected and hmac.compare_digest(presented.encode(), expected.encode()):
        return None
    return http_texts.INVALID_TOKEN


def serve_file(handler: Any, uuid: str) -> None:
    """Answer GET/HEAD of `<base>/images/<uuid>/file` on `handler` (a BaseHTTPRequestHandler)."""
    if handler.command not in ("GET", "HEAD"):
        return _answer(handler, 405, {"detail": http_texts.method_not_allowed(handler.command)},
                       {"Allow": "GET, HEAD"})
    refusal = token_refusal(handler.headers)
    if refusal:
        return _answer(handler, 401, {"detail": refusal})
    from chalicelib.adapters import store
    bucket = store.bucket()
    read = read_store_object(bucket, store.file_key(uuid), handler.headers.get("Range")) \
        if bucket else None
    if read is None or read.status == 404:
        return _answer(handler, 404, {"detail": http_texts.IMAGE_NOT_FOUND})
    if read.status == 416:
        return _answer(handler, 416, {"detail": http_texts.BAD_REQUEST})
    headers = {**read.headers, "Content-Type": "application/octet-stream",
               "Accept-Ranges": "bytes"}
    md5 = _MD5_ETAG.match(headers.get("ETag", ""))
    if read.status == 200 and md5:  # a single-part object's ETag is its MD5
        headers["Content-MD5"] = base64.b64encode(bytes.fromhex(md5.group(1))).decode()
    try:
        handler.send_response(read.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command == "GET":
            while chunk := read.body.read(CHUNK):
                handler.wfile.write(chunk)
    finally:
        read.body.close()


def _answer(handler: Any, status: int, body: dict[str, Any],
            headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)
