"""GET /console/…: the operators' console's static files (SPEC §13). No authentication: the
page holds no data; everything it shows comes from the public API with the user's token.
Not in the OpenAPI document (it is not an API route). Every answer under /console/ — a file,
a 304, 301, 404 or 405 — carries the console's security headers."""
from __future__ import annotations

import json

from chalice.app import Blueprint, Response

from chalicelib.api.http import METHODS, NOT_FOUND_BODY, envelope_headers
from chalicelib.domain import http_texts
from chalicelib.domain.console_files import METHODS as FILE_METHODS
from chalicelib.services.console import static_files

bp = Blueprint(__name__)
# every method reaches the view, so a wrong one is answered in the API's words (not Chalice's)
_METHODS = [*FILE_METHODS, *(method for method in METHODS if method not in FILE_METHODS)]


def _json(status: int, body: dict[str, str], **extra: str) -> Response:
    headers = {**envelope_headers(), **static_files.security_headers(), **extra}
    return Response(body=json.dumps(body), status_code=status,
                    headers=dict[str, str | list[str]](headers))


def _serve(path: str) -> Response:
    request = bp.current_request
    method = request.method.upper()
    if method not in FILE_METHODS:
        return _json(405, {"detail": http_texts.method_not_allowed(method)},
                     Allow=", ".join(FILE_METHODS))
    request_path = (request.context or {}).get("path") or request.path
    if path == "" and not request_path.endswith("/"):
        # `…/console` without the slash: relative links would miss the console's folder
        return Response(body="", status_code=301, headers={
            "Location": request_path + "/", **static_files.security_headers()})
    found = static_files.answer(path, request_path, request.headers.get("if-none-match"))
    if found is None:
        return _json(404, NOT_FOUND_BODY)
    return Response(body=found.body.decode(), status_code=found.status,
                    headers=dict[str, str | list[str]](found.headers))


@bp.route("/console", methods=_METHODS, content_types=["*/*"])
def console_index() -> Response:
    return _serve("")


@bp.route("/console/{name}", methods=_METHODS, content_types=["*/*"])
def console_file(name: str) -> Response:
    return _serve(name)


@bp.route("/console/js/{name}", methods=_METHODS, content_types=["*/*"])
def console_module(name: str) -> Response:
    return _serve("js/" + name)
