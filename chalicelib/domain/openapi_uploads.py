"""The OpenAPI operations of an upload's task (SPEC §4.13): part URLs, the parts stored, the
completion; and the fields an import takes to be an upload instead."""
from __future__ import annotations

from chalicelib.domain import exports, http_texts, uploads
from chalicelib.domain.openapi_fields import JSON, _body
from chalicelib.domain.openapi_responses import (
    _common,
    _detail,
    _pending,
    _response,
    _validation,
)

UPLOAD_FIELDS: dict[str, JSON] = {
    "upload": {"type": ["boolean", "string"],
               "description": "`true`: the caller uploads the file itself (POST "
                              "/task/{task_id}/upload/); `manifest` replaces `manifest_url`."},
    "manifest": {"type": ["object", "string"],
                 "description": "With `upload`: the image's manifest (IMGAPI v2), as an object "
                                "or as its exact JSON text; `files[0]` gives `size` and "
                                "`sha1`."},
    "signature": {"type": "string",
                  "description": "With `upload`: a minisign signature (.minisig text) of "
                                 "`manifest` sent as its exact JSON text, by a key the DC "
                                 "trusts."},
}


def upload_ops(task_id: JSON, api_key: list[JSON]) -> dict[str, JSON]:
    refused = _detail(http_texts.PERMISSION_DENIED, http_texts.OBJECT_PERMISSION_DENIED)
    driven = {"401": _common(401), "403": refused,
              "404": _detail(http_texts.TASK_NOT_FOUND, http_texts.NOT_FOUND),
              "410": _detail(http_texts.TASK_FINISHED), "429": _common(429)}
    urls = {"type": "object", "required": ["parts", "expires"], "properties": {
        "parts": {"type": "object", "additionalProperties": {"type": "string",
                                                             "format": "uri"}},
        "expires": {"type": "string", "format": "date-time"}}}
    stored = {"type": "object", "required": ["parts", "bytes"], "properties": {
        "parts": {"type": "array", "items": {
            "type": "object", "required": ["number", "size"],
            "properties": {"number": {"type": "integer"}, "size": {"type": "integer"}}}},
        "bytes": {"type": "integer", "minimum": 0},
        "completed": {"type": "boolean"}}}
    return {
        "/task/{task_id}/upload": {
            "post": {
                "operationId": "getUploadPartUrls", "tags": ["tasks"],
                "summary": "Presigned PUT URLs for parts of the upload (the creator or a "
                           "SuperAdmin)", "security": api_key, "parameters": [task_id],
                "requestBody": {**_body({"parts": {
                    "type": "array", "minItems": 1, "maxItems": uploads.MAX_URLS_PER_CALL,
                    "items": {"type": "integer", "minimum": 1,
                              "maximum": exports.MAX_PARTS}}}, required=("parts",)),
                    "required": True},
                "responses": {"200": _response("A URL per part.", urls),
                              "400": _validation(), **driven}},
            "get": {
                "operationId": "getUploadParts", "tags": ["tasks"],
                "summary": "The parts the store holds (to resume an upload)",
                "security": api_key, "parameters": [task_id],
                "responses": {"200": _response("The stored parts.", stored), **driven}}},
        "/task/{task_id}/upload/complete": {"post": {
            "operationId": "completeUpload", "tags": ["tasks"],
            "summary": "Complete the upload; the workflow verifies it (size, SHA-1)",
            "security": api_key, "parameters": [task_id],
            "responses": {"201": _pending(), "400": _validation(), **driven}}},
    }
