"""GET /console/…: the operators' console's static files (SPEC §13). No authentication: the
page holds no data; everything it shows comes from the public API with the user's token.
Not in the OpenAPI document (it is not an API route)."""
from __future__ import annotations

import json

from chalice.app import Blueprint, Response

from chalicelib.api.http import NOT_FOUND_BODY, envelope_headers
from chalicelib.services.console import static_files

bp = Blueprint(__name__)
_METHODS = ["GET", "HEAD"]


def _serve(path: str) -> Response:
    request = bp.current_request
    request_path = (request.context or {}).get("path") or request.path
    if path == "" and not request_path.endswith("/"):
        # `…/console` without the slash: relative links would miss the console's folder
        return Response(body="", status_code=301, headers={"Location": request_path + "/"})
    found = static_files.answer(path, request_path, request.headers.get("if-none-match"))
    if found is None:
        return Response(body=json.dumps(NOT_FOUND_BODY), status_code=404,
                        headers=dict[str, str | list[str]](envelope_headers()))
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
