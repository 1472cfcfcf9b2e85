"""The OpenAPI document's answers (openapi_document.py): envelopes, schemas, headers, and the
responses each status code carries.
"""
from __future__ import annotations

from chalicelib.domain import (
    http_texts,
)
from chalicelib.domain.image_view import FIELDS as IMAGE_FIELDS
from chalicelib.domain.openapi_fields import (
    JSON,
    JSON_MEDIA,
)
from chalicelib.domain.vocabulary import (
    FAILURE,
    HTTP_STATUS_OF_TASK,
    PENDING,
    SUCCESS,
    TASK_STATUSES,
    Access,
    ImageStatus,
)

# --- responses ---------------------------------------------------------------------------------


def _ref(kind: str, name: str) -> JSON:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> JSON:
    return _ref("schemas", name)


NULLABLE_STRING = {"type": ["string", "null"]}
STRING_LIST = {"type": "array", "items": {"type": "string"}}
IMAGE_PROPERTIES: JSON = {
    "dc_bound": {"type": "boolean"}, "name": {"type": "string"}, "uuid": {"type": "string"},
    "alias": {"type": "string"}, "version": {"type": "string"}, "owner": {"type": "string"},
    "access": {"type": "integer", "enum": [int(a) for a in Access]},
    "desc": {"type": "string"}, "ostype": {"type": "integer"},
    "size": {"type": "integer", "description": "MB"}, "resize": {"type": "boolean"},
    "deploy": {"type": "boolean"}, "tags": STRING_LIST,
    "status": {"type": "integer", "enum": [int(s) for s in ImageStatus],
               "description": "1 ok, 2 pending (an operation runs)"},
    "created": {"type": ["string", "null"], "format": "date-time"},
}


def _schemas() -> JSON:
    field_errors = {"type": "object", "additionalProperties": STRING_LIST,
                    "description": "Field (or `non_field_errors`) -> messages"}
    return {
        "Detail": {"type": "object", "required": ["detail"], "additionalProperties": False,
                   "properties": {"detail": {"type": "string"}}},
        "FieldErrorsDetail": {"type": "object", "required": ["detail"],
                              "additionalProperties": False,
                              "properties": {"detail": field_errors}},
        "ValidationFailure": {
            "type": "object", "required": ["task_id", "status", "result"],
            "additionalProperties": False,
            "properties": {"task_id": {"type": "string"}, "status": {"const": FAILURE},
                           "result": {"anyOf": [field_errors, {"type": "string"}]}},
            "description": "Every field error of the request at once; a text when an "
                           "operation could not be started."},
        "Pending": {
            "type": "object", "required": ["task_id", "status", "result"],
            "additionalProperties": False,
            "properties": {"task_id": {"type": "string"}, "status": {"const": PENDING},
                           "result": {"type": "null"}},
            "description": "Accepted: poll GET /task/{task_id}/status."},
        "Image": {"type": "object", "required": list(IMAGE_FIELDS),
                  "properties": {**IMAGE_PROPERTIES, "dcs": {
                      **STRING_LIST, "description": "with `extended`"},
                      **{name: {**NULLABLE_STRING, "description": f"with `extended`: the "
                                f"stored file's {label} (null: not known yet)"}
                         for name, label in (("sha1", "SHA-1"), ("sha256", "SHA-256"))},
                      "signed_by": {**NULLABLE_STRING, "description": (
                          "with `extended`: the id of the minisign key that signed the "
                          "image's manifest (16 upper-case hex digits), else null")}}},
        "Vm": {"type": "object", "required": ["hostname", "uuid", "dc"], "properties": {
            "hostname": {"type": "string"}, "uuid": {"type": "string"}, "dc": {"type": "string"},
            "owner": NULLABLE_STRING, "status": {"type": "string"}, "ostype": {"type": "integer"},
            "disks": {"type": "array", "items": {"type": "object", "properties": {
                "image_uuid": NULLABLE_STRING, "size": {"type": "integer"}}}}}},
        "TaskStatus": {
            "type": "object", "required": ["task_id", "status", "result"],
            "additionalProperties": False,
            "properties": {"task_id": {"type": "string"},
                           "status": {"enum": list(TASK_STATUSES)},
                           "result": {"anyOf": [{"type": "null"}, _schema("TaskResult")]}}},
        "TaskResult": {
            "type": "object", "required": ["returncode", "message"],
            "properties": {"returncode": {"type": "integer"}, "message": {"type": "string"},
                           "detail": {"type": "string"}},
            "description": "esimg's return code and message; `detail` on failure."},
        "TaskView": {
            "type": "object", "required": ["task_id", "status", "time", "dc", "progress"],
            "properties": {"task_id": {"type": "string"}, "status": {"enum": list(TASK_STATUSES)},
                           "time": NULLABLE_STRING, "dc": {"type": "string"},
                           "view": {"type": "string"}, "method": {"type": "string"},
                           "name": {"type": "string"},
                           "progress": {"type": "object", "description": "step, bytes_done, "
                                        "bytes_total, percent, rate_bytes_per_second, "
                                        "eta_seconds, runs (while the task runs)"}}},
        "TaskLogEntry": {
            "type": "object", "required": ["time", "task", "status", "user", "msg", "dc"],
            "properties": {"time": NULLABLE_STRING, "task": {"type": "string"},
                           "status": {"type": "string"}, "user": {"type": "string"},
                           "owner": NULLABLE_STRING, "object_type": {"type": "string"},
                           "object_name": NULLABLE_STRING, "object_alias": NULLABLE_STRING,
                           "msg": {"type": "string"}, "detail": {"type": "string"},
                           "dc": {"type": "string"}}},
        "Manifest": {"type": "object", "description": "An IMGAPI v2 image manifest.",
                     "properties": {"uuid": {"type": "string"}, "name": {"type": "string"},
                                    "version": {"type": "string"}, "files": {"type": "array"}}},
    }


def success_schema(result: JSON) -> JSON:
    """A synchronous SUCCESS envelope around `result`."""
    return {"type": "object", "required": ["task_id", "status", "result"],
            "additionalProperties": False,
            "properties": {"task_id": {"type": "string"}, "status": {"const": SUCCESS},
                           "result": result}}


ENVELOPE_HEADERS = ("es_version", "es_dc", "es_username")


OPTIONAL = "_optional"


def _headers() -> JSON:
    def header(description: str, required: bool = False) -> JSON:
        return {"description": description, "required": required, "schema": {"type": "string"}}
    return {
        f"es_task_id{OPTIONAL}": header("The task id, on a FAILURE envelope (not on `detail`)."),
        "es_version": header("The service's version.", True),
        "es_dc": header("The datacenter the request ended in.", True),
        "es_username": header("The caller's username (empty when unauthenticated).", True),
        "es_task_id": header("The task id of a task-shaped answer.", True),
        "es_task_response": header("`true` on an answer whose task is still pending.", True),
        "es_next": header("The cursor of the next page (absent on the last page)."),
        "ETag": header("The image record's version; send it in If-Match.", True),
        "Location": header("Short-lived presigned URL of the image file.", True),
        f"Retry-After{OPTIONAL}": header("Seconds until a login may be tried again."),
    }


def _response(description: str, schema: JSON, *headers: str, optional: tuple[str, ...] = ()
              ) -> JSON:
    """A response with the envelope headers, `headers` (required) and `optional` ones."""
    refs = {name: _ref("headers", name) for name in (*ENVELOPE_HEADERS, *headers)}
    refs.update({name: _ref("headers", f"{name}{OPTIONAL}") for name in optional})
    return {"description": description, "headers": refs,
            "content": {JSON_MEDIA: {"schema": schema}}}


def _detail(*texts: str) -> JSON:
    return _response("; ".join(f"`{text}`" for text in texts), _schema("Detail"))


DETAIL_OF = {
    401: (http_texts.NOT_AUTHENTICATED, http_texts.INVALID_API_KEY, http_texts.INVALID_TOKEN),
    429: (http_texts.THROTTLED,),
}


def _common(status: int) -> JSON:
    return _detail(*DETAIL_OF[status])


def _validation(*extra_details: str) -> JSON:
    """400: field errors in a FAILURE envelope, or a `detail` (a body that is not a JSON
    object, or the export protocol's own texts)."""
    texts = (http_texts.MALFORMED_REQUEST, *extra_details)
    return _response("Field errors in a FAILURE envelope (`result`: field -> messages), or "
                     + "; ".join(f"`{text}`" for text in texts),
                     {"anyOf": [_schema("ValidationFailure"), _schema("Detail")]},
                     optional=("es_task_id",))


def _field_failure() -> JSON:
    return _response("Field errors in a FAILURE envelope", _schema("ValidationFailure"),
                     "es_task_id")


TASK_LINKS = {"GetTaskStatus": {"operationId": "getTaskStatus",
                                "parameters": {"task_id": "$response.body#/task_id"}},
              "GetTask": {"operationId": "getTask",
                          "parameters": {"task_id": "$response.body#/task_id"}},
              "CancelTask": {"operationId": "cancelTask",
                             "parameters": {"task_id": "$response.body#/task_id"}}}


IMAGE_LINKS = {name: {"operationId": operation, "parameters": {"name": "$request.path.name"}}
               for name, operation in (("GetImage", "getImage"), ("UpdateImage", "updateImage"),
                                       ("DeleteImage", "deleteImage"),
                                       ("ListImageVms", "listImageVms"))}


def _pending() -> JSON:
    return {**_response("Accepted; the operation runs on the image server (poll the task).",
                        _schema("Pending"), "es_task_id", "es_task_response"),
            "links": TASK_LINKS}


def _task_status(status: int) -> JSON:
    name = next(s for s, code in HTTP_STATUS_OF_TASK.items() if code == status)
    headers = ("es_task_id", "es_task_response") if name == PENDING else ("es_task_id",)
    return _response(f"The task is {name}.", _schema("TaskStatus"), *headers)


