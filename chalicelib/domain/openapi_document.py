"""The OpenAPI 3.1 document of every route (SPEC §4.12), built from the rules the API runs.

Request fields are described from the coercers the forms validate with (`image_form.COERCERS`,
`fields`), so a field's length, pattern or choices live once: a new kind of coercer without a
schema here fails `build()` (and the domain tests) instead of going undocumented. What the
services own (page sizes, sort fields, node filters) comes in as `ServiceFacts`.

Every route answers with the envelope of `chalicelib.api.http`: `{"task_id", "status",
"result"}` for task-shaped answers, `{"detail": text}` for other errors, and a 400 FAILURE
envelope whose `result` maps fields to messages. Node routes answer plain JSON.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import (
    callbacks,
    cursor,
    exports,
    fields,
    http_texts,
    image_form,
    limits,
)
from chalicelib.domain import field_texts as ft
from chalicelib.domain.image_view import FIELDS as IMAGE_FIELDS
from chalicelib.domain.urlpolicy import URL_MAX_LENGTH
from chalicelib.domain.vocabulary import (
    FAILURE,
    HTTP_STATUS_OF_TASK,
    PENDING,
    SUCCESS,
    TASK_STATUSES,
    Access,
    ImageStatus,
)

JSON = dict[str, Any]
OPENAPI_VERSION = "3.1.0"
JSON_MEDIA = "application/json"


@dataclass(frozen=True)
class ServiceFacts:
    """What the services decide and the document states."""

    version: str
    image_page: tuple[int, int]        # GET /image `limit`
    log_page: tuple[int, int]          # GET /task/log `limit`
    image_order: tuple[str, ...]       # `order_by` of /image
    vm_order: tuple[str, ...]          # `order_by` of /image/{name}/vm
    node_filters: tuple[str, ...]      # GET /images filters


# --- request fields, from the coercers --------------------------------------------------------

FIELD_DOCS = {
    "alias": "Short name shown to users (default: the image name).",
    "version": "Image version; alias + version is unique across all images.",
    "access": f"{int(Access.PUBLIC)} Public, {int(Access.PRIVATE)} Private, "
              f"{int(Access.DELETED)} Deleted.",
    "owner": "Username of an active user (default: the caller).",
    "desc": "Description.",
    "resize": "Whether a VM's disk created from the image may be resized.",
    "deploy": "Whether the image is deployable.",
    "tags": "A list of tags, or one string split on commas (or, without commas, on blanks).",
    "dc_bound": "Bind the image to a datacenter (only a SuperAdmin may set false).",
}
BOOL_WORDS = sorted(fields.TRUE_WORDS | fields.FALSE_WORDS)


def longest_accepted(accepts: Callable[[str], bool], ceiling: int = 1 << 16) -> int:
    """The longest run of `a` a length rule accepts (for rules whose limit is inside them)."""
    low, high = 0, ceiling
    while low < high:
        middle = (low + high + 1) // 2
        if accepts("a" * middle):
            low = middle
        else:
            high = middle - 1
    return low


def coercer_schema(coercer: fields.Coercer) -> JSON:
    """The JSON Schema of what `coercer` accepts. Spellings the API also tolerates (numbers
    and booleans as text, padded strings) are left out: a client sends what the schema says."""
    printable = {"not": {"pattern": fields.CONTROL_RE.pattern}}
    if coercer is fields.to_bool:
        return {"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]},
                          {"type": "string", "enum": BOOL_WORDS}]}
    if coercer is fields.to_username:
        return {"type": "string", "minLength": 1, "maxLength": limits.MAX_USERNAME_CHARS,
                "pattern": "\\S", **printable}
    if coercer is fields.to_tags:
        item = {"type": "string", "pattern": fields.TAG_RE.pattern,
                "maxLength": limits.MAX_TAG_CHARS}
        return {"anyOf": [{"type": "array", "items": item, "maxItems": limits.MAX_TAGS},
                          {"type": "string", "pattern": "^[ ,:/A-Za-z0-9_-]*$",
                           "maxLength": limits.MAX_TAG_CHARS}]}
    kind = coercer.__qualname__.split(".", 1)[0]
    made_with = inspect.getclosurevars(coercer).nonlocals
    if kind == fields.safe_text.__name__:
        schema: JSON = {"type": "string", "maxLength": made_with["limit"],
                        "pattern": fields.SAFE_TEXT_RE.pattern, **printable}
        if not made_with["allow_empty"]:
            schema["minLength"] = 1
        return schema
    if kind == fields.choice.__name__:
        allowed = [int(value) for value in made_with["allowed"]]
        return {"anyOf": [{"type": "integer", "enum": allowed},
                          {"type": "string", "enum": [str(value) for value in allowed]}]}
    raise LookupError(f"no JSON Schema for the coercer {coercer.__qualname__}")


def image_field_schemas(names: Iterable[str]) -> dict[str, JSON]:
    return {name: {**coercer_schema(image_form.COERCERS[name]), "description": FIELD_DOCS[name]}
            for name in names}


def _url(description: str) -> JSON:
    return {"type": "string", "maxLength": URL_MAX_LENGTH,
            "pattern": "^[hH][tT][tT][pP][sS]?://[^\\s]+$", "description": description}


def _integer_text(low: int, high: int | None = None) -> JSON:
    """An integer, or its decimal text (the `es` tool sends every value as a string)."""
    number: JSON = {"type": "integer", "minimum": low}
    if high is not None:
        number["maximum"] = high
    return {"anyOf": [number, {"type": "string", "pattern": "^[0-9]{1,18}$"}]}


def _order_by(allowed: tuple[str, ...]) -> JSON:
    names = "|".join(allowed)
    return {"type": "string", "pattern": f"^([+-]?({names}))(,[+-]?({names}))*$",
            "description": f"Comma-separated sort fields ({', '.join(allowed)}); a `-` prefix "
                           f"sorts descending. Default `{allowed[0]}`. Anything else is 412."}


def _callback_fields() -> dict[str, JSON]:
    return {"cb_url": _url("Called once with the task's final status (signed)."),
            "cb_method": {"type": "string",
                          "enum": [*callbacks.METHODS, *(m.lower() for m in callbacks.METHODS)],
                          "description": "Method of the callback (default POST)."}}


def _body(properties: dict[str, JSON], required: tuple[str, ...] = (),
          example: JSON | None = None) -> JSON:
    """A JSON object body; fields it does not list are ignored by the API."""
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    media: JSON = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": False, "content": {JSON_MEDIA: media}}


def import_body(facts: ServiceFacts) -> JSON:
    props = {"manifest_url": _url("The image's manifest (IMGAPI v2), fetched synchronously "
                                  "under the source URL policy."),
             "file_url": _url("The image file (default: manifest_url + `/file`)."),
             **image_field_schemas(image_form.UPDATABLE),
             "dc": {"type": "string", "description": "The datacenter to bind the image to."},
             **_callback_fields(), "order_by": _order_by(facts.image_order)}
    return _body(props, required=("manifest_url",), example={
        "manifest_url": "https://images.example.com/centos-7/manifest", "dc": "main"})


def update_body(facts: ServiceFacts) -> JSON:
    props = {**image_field_schemas(image_form.UPDATABLE),
             "name": {"type": "string", "description": "Validated, never changed."},
             **_callback_fields(), "order_by": _order_by(facts.image_order)}
    return _body(props, example={"desc": "CentOS 7 with updates", "tags": ["linux", "centos"]})


def delete_body(facts: ServiceFacts) -> JSON:
    return _body({**_callback_fields(), "order_by": _order_by(facts.image_order)})


def snapshot_body(facts: ServiceFacts) -> JSON:
    names = [name for name in image_form.UPDATABLE if name != "dc_bound"]
    props = {"disk_id": {**_integer_text(1), "description": "1-based position of the disk in "
                         "the VM's disk list (default 1); a disk the VM lacks is 412."},
             **image_field_schemas(names), **_callback_fields(),
             "order_by": _order_by(facts.image_order)}
    return _body(props, example={"disk_id": 1, "alias": "web01-base"})


def _non_negative(high: int) -> JSON:
    return {"type": "integer", "minimum": 0, "maximum": high}


EXPORT_BODIES: dict[str, JSON] = {
    "parts": _body({"parts": {
        "type": "array", "minItems": 1, "maxItems": exports.MAX_URLS_PER_CALL,
        "items": {"type": "object", "required": ["number", "size"], "properties": {
            "number": {"type": "integer", "minimum": 1, "maximum": exports.MAX_PARTS},
            "size": {"type": "integer", "minimum": 1, "maximum": exports.MAX_PART_BYTES}}}}},
        required=("parts",)),
    "progress": _body({"bytes": _non_negative(exports.MAX_PARTS * exports.MAX_PART_BYTES)},
                      required=("bytes",)),
    "complete": _body({"parts": {"type": "integer", "minimum": 1, "maximum": exports.MAX_PARTS},
                       "bytes": _non_negative(exports.MAX_PARTS * exports.MAX_PART_BYTES)},
                      required=("parts", "bytes")),
    "failure": _body({"reason": {"type": "string", "description": "Why the export failed "
                                 f"(one line, cut at {exports.MAX_REASON_CHARS} characters)."}}),
}

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
                      **STRING_LIST, "description": "with `extended`"}}},
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


# --- operations ----------------------------------------------------------------------------------

Security = list[dict[str, list[str]]]
API_KEY: Security = [{"ApiKey": []}, {"Token": []}]
NODE: Security = [{"NodeToken": []}, {"ApiKey": []}, {"Token": []}]
EXPORT: Security = [{"ExportToken": [], "NodeToken": []}, {"ExportToken": []}]


def _param(name: str, where: str, schema: JSON, description: str, *,
           required: bool = False) -> JSON:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description}


def _flag(name: str, description: str) -> JSON:
    return _param(name, "query", {"type": "string", "examples": ["true", "1", "false"]},
                  description + " (true/True/TRUE/t/T/1; false/False/FALSE/f/F/0)")


def _path(name: str, description: str, example: str, schema: JSON | None = None) -> JSON:
    return _param(name, "path", {**(schema or {"type": "string", "minLength": 1}),
                                 "examples": [example]}, description)


IMAGE_NAME = _path("name", "The image's name.", "centos-7")
TASK_ID = _path("task_id", "A task id (`eu-<uuid4>`).", "eu-0b8ec7a4-3d4e-4f52-9c3a-5d2c1e0f9a7b")
IF_MATCH = _param("If-Match", "header", {"type": "string"},
                  "ETag(s) of GET /image/{name}; a mismatch is 412 and changes nothing.")


def _order_param(allowed: tuple[str, ...]) -> JSON:
    return _param("order_by", "query", _order_by(allowed), _order_by(allowed)["description"])


def _new_image_name() -> JSON:
    limit = longest_accepted(lambda text: fields.image_name_error(text) is None)
    return _path("name", "The new image's name (unique); an invalid one is a field error.",
                 "debian-12",
                 {"type": "string", "minLength": 1, "maxLength": limit,
                  "pattern": fields.NAME_RE.pattern})


def _image_ops(facts: ServiceFacts) -> dict[str, JSON]:
    order = _order_param(facts.image_order)
    image_ok = _response("The image.", success_schema(_schema("Image")), "es_task_id", "ETag")
    forbidden = _detail(http_texts.PERMISSION_DENIED, http_texts.OBJECT_PERMISSION_DENIED)
    not_found = _detail(http_texts.IMAGE_NOT_FOUND)
    order_412 = _detail(http_texts.invalid_order_by(facts.image_order))
    change_412 = _detail(http_texts.invalid_order_by(facts.image_order), http_texts.ETAG_MISMATCH)
    return {
        "/image": {"get": {
            "operationId": "listImages", "tags": ["images"],
            "summary": "Images the caller administers (names, or objects with full/extended)",
            "security": API_KEY,
            "parameters": [
                _flag("full", "Image objects instead of names"),
                _flag("extended", "Image objects with `dcs`"), order,
                _param("limit", "query", _integer_text(*facts.image_page),
                       f"Page size ({facts.image_page[0]}-{facts.image_page[1]}); without it "
                       "the whole list is returned."),
                _param("cursor", "query", {"type": "string", "maxLength": cursor.MAX_LENGTH},
                       "The `es_next` header of the previous page (opaque).")],
            "responses": {
                "200": _response("Names, or image objects.", success_schema(
                    {"anyOf": [STRING_LIST, {"type": "array", "items": _schema("Image")}]}),
                    "es_task_id", "es_next"),
                "400": _field_failure(), "401": _common(401),
                "403": _detail(http_texts.PERMISSION_DENIED), "412": order_412,
                "429": _common(429)}}},
        "/image/{name}": {
            "get": {
                "operationId": "getImage", "tags": ["images"], "summary": "One image",
                "security": API_KEY,
                "parameters": [IMAGE_NAME, _flag("extended", "Add `dcs`"), order],
                "responses": {"200": image_ok, "401": _common(401), "403": forbidden,
                              "404": not_found, "412": order_412, "429": _common(429)}},
            "post": {
                "operationId": "importImage", "tags": ["images"],
                "summary": "Import an image from a manifest URL",
                "security": API_KEY, "parameters": [_new_image_name(), order],
                "requestBody": import_body(facts),
                "responses": {
                    "200": {**_response("Created (no image server: a database-only "
                                        "import).", success_schema(_schema("Image")),
                                        "es_task_id"), "links": IMAGE_LINKS},
                    "201": _pending(), "400": _validation(), "401": _common(401),
                    "403": forbidden, "404": _detail(http_texts.DC_NOT_FOUND),
                    "406": _detail(http_texts.IMAGE_EXISTS), "412": order_412,
                    "428": _detail(http_texts.IMAGE_SERVER_NOT_AVAILABLE), "429": _common(429)}},
            "put": {
                "operationId": "updateImage", "tags": ["images"],
                "summary": "Change the sent fields of an image",
                "security": API_KEY, "parameters": [IMAGE_NAME, order, IF_MATCH],
                "requestBody": update_body(facts),
                "responses": {
                    "200": image_ok, "201": _pending(), "400": _validation(),
                    "401": _common(401), "403": forbidden, "404": not_found,
                    "412": change_412, "417": _detail(http_texts.IMAGE_STATUS_NOT_OK),
                    "428": _detail(http_texts.IMAGE_SERVER_NOT_AVAILABLE), "429": _common(429)}},
            "delete": {
                "operationId": "deleteImage", "tags": ["images"], "summary": "Delete an image",
                "security": API_KEY, "parameters": [IMAGE_NAME, order, IF_MATCH],
                "requestBody": delete_body(facts),
                "responses": {
                    "200": _response("Deleted (no image server).",
                                     success_schema({"type": "null"}), "es_task_id"),
                    "201": _pending(), "400": _validation(), "401": _common(401),
                    "403": forbidden, "404": not_found, "412": change_412,
                    "417": _detail(http_texts.IMAGE_STATUS_NOT_OK),
                    "428": _detail(http_texts.IMAGE_USED_BY_VMS,
                                   http_texts.IMAGE_SERVER_NOT_AVAILABLE),
                    "429": _common(429)}}},
        "/image/{name}/vm": {"get": {
            "operationId": "listImageVms", "tags": ["images"],
            "summary": "VMs using the image (hostnames, or objects with full/extended)",
            "security": API_KEY,
            "parameters": [IMAGE_NAME, _flag("full", "VM objects instead of hostnames"),
                           _flag("extended", "VM objects"), _order_param(facts.vm_order)],
            "responses": {
                "200": _response("Hostnames, or VM objects.", success_schema(
                    {"anyOf": [STRING_LIST, {"type": "array", "items": _schema("Vm")}]}),
                    "es_task_id"),
                "401": _common(401), "403": forbidden, "404": not_found,
                "412": _detail(http_texts.invalid_order_by(facts.vm_order)),
                "429": _common(429)}}},
        "/vm/{vm}/snapshot/{snapname}/image/{name}": {"post": {
            "operationId": "createImageFromSnapshot", "tags": ["images"],
            "summary": "Create an image from a VM disk snapshot (exported by the VM's node)",
            "security": API_KEY,
            "parameters": [_path("vm", "The VM's hostname or uuid.", "web01"),
                           _path("snapname", "The snapshot's name.", "daily"),
                           _new_image_name(), order],
            "requestBody": snapshot_body(facts),
            "responses": {
                "201": _pending(), "400": _validation(), "401": _common(401),
                "403": forbidden,
                "404": _detail(http_texts.VM_NOT_FOUND, http_texts.SNAPSHOT_NOT_FOUND,
                               http_texts.DC_NOT_FOUND),
                "406": _detail(http_texts.IMAGE_EXISTS),
                "412": _detail(http_texts.INVALID_DISK_ID,
                               http_texts.invalid_order_by(facts.image_order)),
                "417": _detail(http_texts.SNAPSHOT_STATUS_NOT_OK),
                "423": _detail(http_texts.VM_NOT_OPERATIONAL, http_texts.NODE_NOT_OPERATIONAL),
                "428": _detail(http_texts.IMAGE_SERVER_NOT_AVAILABLE), "429": _common(429)}}},
    }


def _task_ops(facts: ServiceFacts) -> dict[str, JSON]:
    forbidden = _detail(http_texts.PERMISSION_DENIED)
    not_found = _detail(http_texts.TASK_NOT_FOUND)
    readable = {"401": _common(401), "403": forbidden, "404": not_found, "429": _common(429)}
    by_status = {str(code): _task_status(code) for code in sorted(HTTP_STATUS_OF_TASK.values())}

    def task_status(operation_id: str, summary: str) -> JSON:
        return {"operationId": operation_id, "tags": ["tasks"], "summary": summary,
                "security": API_KEY, "parameters": [TASK_ID],
                "responses": {**by_status, **readable}}

    return {
        "/task": {"get": {
            "operationId": "listPendingTasks", "tags": ["tasks"],
            "summary": "The caller's pending task ids", "security": API_KEY,
            "responses": {"200": _response("Task ids.", success_schema(STRING_LIST),
                                           "es_task_id"),
                          "401": _common(401), "429": _common(429)}}},
        "/task/log": {"get": {
            "operationId": "getTaskLog", "tags": ["tasks"],
            "summary": "Task log of a datacenter, newest first (DC admins)", "security": API_KEY,
            "parameters": [
                _param("dc", "query", {"type": "string"}, "Datacenter (default: the default "
                       "DC)."),
                _param("limit", "query", _integer_text(*facts.log_page),
                       f"Page size ({facts.log_page[0]}-{facts.log_page[1]}, default 100)."),
                _param("cursor", "query", {"type": "string", "maxLength": cursor.MAX_LENGTH},
                       "The `es_next` header of the previous page (opaque).")],
            "responses": {
                "200": _response("Log entries.", success_schema(
                    {"type": "array", "items": _schema("TaskLogEntry")}), "es_task_id",
                    "es_next"),
                "400": _field_failure(), "401": _common(401), "403": forbidden,
                "429": _common(429)}}},
        "/task/{task_id}": {"get": {
            "operationId": "getTask", "tags": ["tasks"],
            "summary": "The task's view and progress", "security": API_KEY,
            "parameters": [TASK_ID],
            "responses": {"200": _response("The task.", success_schema(_schema("TaskView")),
                                           "es_task_id"), **readable}}},
        "/task/{task_id}/status": {"get": task_status(
            "getTaskStatus", "The task's status; the HTTP status follows it")},
        "/task/{task_id}/state": {"get": task_status(
            "getTaskState", "Same as /status (Danube Cloud's older name)")},
        "/task/{task_id}/done": {"get": {
            "operationId": "getTaskDone", "tags": ["tasks"], "summary": "Whether the task ended",
            "security": API_KEY, "parameters": [TASK_ID],
            "responses": {
                **{str(code): _response(text, {
                    "type": "object", "required": ["task_id", "done"],
                    "additionalProperties": False,
                    "properties": {"task_id": {"type": "string"}, "done": {"type": "boolean"}}})
                   for code, text in ((200, "Ended."), (201, "Still running."))},
                **readable}}},
        "/task/{task_id}/cancel": {"put": {
            "operationId": "cancelTask", "tags": ["tasks"],
            "summary": "Stop the operation and roll it back; answers like /status",
            "security": API_KEY, "parameters": [TASK_ID],
            "responses": {
                **by_status,
                "400": _response(f"The task FAILED, or `{http_texts.MALFORMED_REQUEST}`",
                                 {"anyOf": [_schema("TaskStatus"), _schema("Detail")]},
                                 optional=("es_task_id",)),
                "406": _detail(http_texts.TASK_FINISHED), **readable}}},
    }


def _node_ops(facts: ServiceFacts) -> dict[str, JSON]:
    common = {"401": _common(401), "403": _detail(http_texts.PERMISSION_DENIED),
              "429": _common(429)}
    not_found = _detail(http_texts.IMAGE_NOT_FOUND)
    uuid = _path("uuid", "The image's uuid.", "0b8ec7a4-3d4e-4f52-9c3a-5d2c1e0f9a7b")
    filters = [_param(name, "query", {"type": "string"}, f"Only manifests whose `{name}` is "
                      "this value.") for name in facts.node_filters]
    return {
        "/images": {"get": {
            "operationId": "listManifests", "tags": ["compute nodes"],
            "summary": "Manifests of the ready images (IMGAPI-compatible, plain JSON)",
            "security": NODE, "parameters": filters,
            "responses": {"200": _response("Manifests.", {"type": "array",
                                                       "items": _schema("Manifest")}),
                          **common}}},
        "/images/{uuid}": {"get": {
            "operationId": "getManifest", "tags": ["compute nodes"],
            "summary": "One ready image's manifest", "security": NODE, "parameters": [uuid],
            "responses": {"200": _response("The manifest.", _schema("Manifest")),
                          "404": not_found, **common}}},
        "/images/{uuid}/file": {"get": {
            "operationId": "getImageFile", "tags": ["compute nodes"],
            "summary": "Redirect to the image file in the store", "security": NODE,
            "parameters": [uuid],
            "responses": {"302": _response("See `Location`.", {"type": "null"}, "Location"),
                          "404": not_found,
                          "428": _detail(http_texts.IMAGE_SERVER_NOT_AVAILABLE), **common}}},
    }


def _export_ops() -> dict[str, JSON]:
    gone = _detail(http_texts.TASK_FINISHED)
    refused = _detail(http_texts.PERMISSION_DENIED)
    ok = _response("Done.", _schema("Detail"))
    bad = {
        "parts": (http_texts.export_parts_invalid(exports.MAX_URLS_PER_CALL),),
        "progress": (http_texts.EXPORT_BYTES_INVALID,),
        "complete": (http_texts.EXPORT_PARTS_COUNT_INVALID, http_texts.EXPORT_BYTES_INVALID,
                     http_texts.EXPORT_PARTS_MISSING),
        "failure": (),
    }
    summaries = {
        "parts": "Presigned upload URLs for the parts the agent is about to send",
        "progress": "Bytes sent so far (the workflow's heartbeat; extends the export token)",
        "complete": "Complete the upload (checked against the stored parts)",
        "failure": "Report why the export failed; the operation rolls back",
    }
    ops: dict[str, JSON] = {}
    for action, body in EXPORT_BODIES.items():
        answer = ok if action != "parts" else _response("Part number -> URL.", {
            "type": "object", "required": ["urls", "expires_in"], "properties": {
                "urls": {"type": "object", "additionalProperties": {"type": "string"}},
                "expires_in": {"type": "integer"}}})
        ops[f"/exports/{{task_id}}/{action}"] = {"post": {
            "operationId": f"export{action.capitalize()}", "tags": ["node agents"],
            "summary": summaries[action], "security": EXPORT, "parameters": [TASK_ID],
            "requestBody": {**body, "required": True},
            "responses": {"200": answer, "400": _detail(http_texts.MALFORMED_REQUEST,
                                                        *bad[action]),
                          "403": refused, "410": gone, "429": _common(429)}}}
    return ops


def _account_ops() -> dict[str, JSON]:
    login_fields = {name: {"anyOf": [{"type": "string", "minLength": 1, "pattern": "\\S"},
                                     {"type": "number"}]} for name in ("username", "password")}
    return {
        "/accounts/login": {"post": {
            "operationId": "login", "tags": ["accounts"],
            "summary": "A login token for a username and password (Danube Cloud's login)",
            "security": [],
            "requestBody": {**_body(login_fields, required=("username", "password"),
                                    example={"username": "alice", "password": "secret"}),
                            "required": True},
            "responses": {
                "200": _response("Logged in: send `Authorization: Token <token>`.", {
                    "type": "object", "required": ["token", "expires", "detail"],
                    "additionalProperties": False,
                    "properties": {"token": {"type": "string"},
                                   "expires": {"type": "string", "format": "date-time"},
                                   "detail": {"const": http_texts.LOGIN_WELCOME}}}),
                "400": _response(f"`{http_texts.LOGIN_FAILED}`; `{http_texts.MALFORMED_REQUEST}`"
                                 "; or field errors under `detail`", {"anyOf": [
                                     _schema("Detail"), _schema("FieldErrorsDetail")]}),
                "429": _response(f"`{http_texts.THROTTLED}`: too many failed logins of the "
                                 "user (see `Retry-After`), or DynamoDB throttled",
                                 _schema("Detail"), optional=("Retry-After",))}}},
        "/accounts/logout": {"get": {
            "operationId": "logout", "tags": ["accounts"],
            "summary": "Revoke the login token presented", "security": API_KEY,
            "responses": {"200": _response("Logged out.", {
                "type": "object", "required": ["detail"], "additionalProperties": False,
                "properties": {"detail": {"const": http_texts.LOGOUT_BYE}}}),
                "401": _common(401), "429": _common(429)}}},
    }


def _meta_ops() -> dict[str, JSON]:
    return {
        "/ping": {"get": {
            "operationId": "ping", "tags": ["service"], "summary": "Liveness (`pong`)",
            "security": [],
            "responses": {"200": _response("pong", success_schema({"const": "pong"}),
                                           "es_task_id")}}},
        "/openapi.json": {"get": {
            "operationId": "getOpenApi", "tags": ["service"], "summary": "This document",
            "security": [],
            "responses": {"200": _response("OpenAPI 3.1", {"type": "object",
                                                          "required": ["openapi", "paths"]})}}},
    }


DESCRIPTION = f"""Danube Cloud's server disk image API (SPEC), served under the API stage `api`.

Every answer is JSON with the headers `es_version`, `es_dc` and `es_username`. Synchronous
success: `{{"task_id", "status": "{SUCCESS}", "result"}}`; accepted: 201 `{{"task_id", "status":
"{PENDING}", "result": null}}` (poll `/task/{{task_id}}/status`); field errors: 400 `{{"task_id",
"status": "{FAILURE}", "result": {{"<field>": ["<message>", ...]}}}}` with every error of the
request; other errors `{{"detail": "<text>"}}`. A body that is not a JSON object is 400
`{http_texts.MALFORMED_REQUEST}`, an unknown route 404 `{http_texts.NOT_FOUND}`, a method a route
does not list 405. Paths may end with `/`. Values may be sent as text, as the `es` tool does
(`"3"`, `"true"`, `"a,b"`). Field messages are Danube Cloud's (`{ft.REQUIRED}`, `{ft.INVALID}`,
...). 429 means DynamoDB throttled the request: retry later."""


def describe(document: JSON, path: str) -> JSON:
    """A route's description for OPTIONS (what Danube Cloud's `es help` prints): its methods,
    each with what it does, its parameters and body fields, who may call it and whether it
    answers at once or with a task to poll (asynchronous)."""
    item = document["paths"].get(path, {})
    parameters = document["components"].get("parameters", {})
    methods: JSON = {}
    for method in HTTP_METHODS:
        op = item.get(method)
        if op is None:
            continue
        params = [parameters.get(p["$ref"].rsplit("/", 1)[1], p) if "$ref" in p else p
                  for p in op.get("parameters", [])]
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        methods[method.upper()] = {
            "summary": op.get("summary", ""), "description": op.get("description", ""),
            "parameters": [{"name": p["name"], "in": p["in"],
                            "required": bool(p.get("required"))} for p in params],
            "body": sorted(body.get("schema", {}).get("properties", {})),
            "permissions": op.get("x-permissions", ""),
            "asynchronous": "201" in op.get("responses", {}) and method != "get",
        }
    return {"url": path, "methods": methods}


def _unstorable_keys_not_found(paths: dict[str, JSON]) -> None:
    """A path parameter no stored key can equal (empty, or over `limits.MAX_KEY_BYTES`) is a
    404 `Not found` on every route that has one (`chalicelib.api.http.routes`)."""
    for path, item in paths.items():
        if "{" not in path:
            continue
        for operation in item.values():
            responses = operation["responses"]
            if "404" in responses:
                described = responses["404"]["description"]
                responses["404"] = {**responses["404"],
                                    "description": f"{described}; `{http_texts.NOT_FOUND}`"}
            else:
                responses["404"] = _detail(http_texts.NOT_FOUND)
            operation["responses"] = dict(sorted(responses.items()))


# Who may call each operation (SPEC §2), in words: `x-permissions` of the document and the
# `permissions` of a route's OPTIONS answer (`es help`). The rules are domain/permissions.py.
PERMISSIONS: dict[str, str] = {
    "ping": "anyone", "getOpenApi": "anyone",
    "listImages": "image admins (the images of their DCs); SuperAdmins (all)",
    "getImage": "image admins of the image's DC; SuperAdmins (DC-unbound images: only them)",
    "importImage": "image import admins of the DC; SuperAdmins (DC-unbound images: only them)",
    "updateImage": "image admins of the image's DC; SuperAdmins (DC-unbound images: only them)",
    "deleteImage": "image admins of the image's DC; SuperAdmins (DC-unbound images: only them)",
    "listImageVms": "image admins of the image's DC; SuperAdmins",
    "createImageFromSnapshot": "image admins of the VM's DC; SuperAdmins",
    "listPendingTasks": "any user (their own tasks)",
    "getTaskLog": "admins of the DC; SuperAdmins (entries of DC-unbound images: only them)",
    "getTask": "the task's creator; SuperAdmins; for a DC-bound image also its owner and the "
               "admins of its DC",
    "getTaskStatus": "as GET /task/{task_id}", "getTaskState": "as GET /task/{task_id}",
    "getTaskDone": "as GET /task/{task_id}",
    "cancelTask": "the task's creator; SuperAdmins; who may start the operation (an image "
                  "admin of the DC, an import admin for imports)",
    "listManifests": "compute nodes (node token); any user", "getManifest": "as GET /images",
    "getImageFile": "as GET /images",
    "exportParts": "the node agent sent that task's export (export token)",
    "exportProgress": "as exportParts", "exportComplete": "as exportParts",
    "exportFailure": "as exportParts",
    "login": "anyone (with a user name and password)", "logout": "the token's holder",
}
HTTP_METHODS = ("get", "post", "put", "delete", "patch")


def build(facts: ServiceFacts) -> JSON:
    """The whole document (a plain JSON-serialisable dict)."""
    paths = {**_meta_ops(), **_image_ops(facts), **_task_ops(facts), **_node_ops(facts),
             **_export_ops(), **_account_ops()}
    _unstorable_keys_not_found(paths)
    for item in paths.values():
        for method in HTTP_METHODS:
            if method in item:
                item[method]["x-permissions"] = PERMISSIONS[item[method]["operationId"]]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "imageapi: Danube Cloud image API", "version": facts.version,
                 "description": DESCRIPTION},
        "servers": [{"url": "/api", "description": "The API Gateway stage"}],
        "tags": [{"name": "images"}, {"name": "tasks"}, {"name": "compute nodes"},
                 {"name": "node agents"}, {"name": "accounts"}, {"name": "service"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "headers": _headers(),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "ES-API-KEY",
                           "description": "A user's API key."},
                "Token": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "`Token <token>`: a login token of POST "
                                         "/accounts/login, or an API key."},
                "NodeToken": {"type": "apiKey", "in": "header", "name": "ES-NODE-TOKEN",
                              "description": "The compute nodes' token (setting NODE_TOKEN); "
                                             "on /images also as `Authorization: Token`."},
                "ExportToken": {"type": "apiKey", "in": "header", "name": "ES-EXPORT-TOKEN",
                                "description": "The export token of the one task an agent "
                                               "was sent (with ES-NODE-TOKEN when configured)."},
            },
        },
    }
