"""The OpenAPI document's operations (openapi_document.py): every route and method, with its
parameters, body, security and responses.
"""
from __future__ import annotations

from chalicelib.domain import (
    cursor,
    exports,
    fields,
    http_texts,
    imgapi,
)
from chalicelib.domain.openapi_fields import (
    EXPORT_BODIES,
    JSON,
    ServiceFacts,
    _body,
    _integer_text,
    _order_by,
    delete_body,
    import_body,
    longest_accepted,
    snapshot_body,
    update_body,
)
from chalicelib.domain.openapi_responses import (
    IMAGE_LINKS,
    STRING_LIST,
    _common,
    _detail,
    _field_failure,
    _pending,
    _response,
    _schema,
    _task_status,
    _validation,
    success_schema,
)
from chalicelib.domain.vocabulary import (
    HTTP_STATUS_OF_TASK,
)

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
            "operationId": "getTaskDone", "tags": ["tasks"],
            "summary": "Whether the task ended successfully",
            "security": API_KEY, "parameters": [TASK_ID],
            "responses": {
                **{str(code): _response(text, {
                    "type": "object", "required": ["task_id", "done"],
                    "additionalProperties": False,
                    "properties": {"task_id": {"type": "string"}, "done": {"type": "boolean"}}})
                   for code, text in ((200, "Ended successfully (`done`: true)."),
                                      (201, "Still running."), (400, "Failed."),
                                      (410, "Revoked."))},
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
                "406": _detail(http_texts.TASK_NOT_CANCELABLE), **readable}}},
    }


def _node_ops(facts: ServiceFacts) -> dict[str, JSON]:
    common = {"401": _common(401), "403": _detail(http_texts.PERMISSION_DENIED),
              "429": _common(429)}
    not_found = _detail(http_texts.IMAGE_NOT_FOUND)
    uuid = _path("uuid", "The image's uuid.", "0b8ec7a4-3d4e-4f52-9c3a-5d2c1e0f9a7b")
    filters = [_param(name, "query", {"type": "string"}, f"Only manifests whose `{name}` is "
                      "this value (IMGAPI's `~` substring for name and version, `!` negation "
                      "for os and type).") for name in facts.node_filters]
    paging = [_param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
                     "At most this many manifests (default 1000)."),
              _param("marker", "query", {"type": "string"}, "Start at this image (a uuid, "
                     "inclusive, as IMGAPI's marker is) or at this `published_at` date.")]
    bad_page = _field_failure()  # a bad `limit` or `marker`
    listing = {"operationId": "listManifests", "tags": ["compute nodes"],
               "summary": "Manifests of the ready images (IMGAPI ListImages, plain JSON)",
               "security": NODE, "parameters": filters + paging,
               "responses": {"200": _response("Manifests.", {"type": "array",
                                                          "items": _schema("Manifest")}),
                             "400": bad_page, **common}}
    getting = {"operationId": "getManifest", "tags": ["compute nodes"],
               "summary": "One ready image's manifest (IMGAPI GetImage)", "security": NODE,
               "parameters": [uuid],
               "responses": {"200": _response("The manifest.", _schema("Manifest")),
                             "404": not_found, **common}}
    base = imgapi.BASE_PATH
    return {
        "/images": {"get": listing},
        "/images/{uuid}": {"get": getting},
        f"{base}/ping": {"get": {
            "operationId": "imgapiPing", "tags": ["compute nodes"],
            "summary": "IMGAPI's ping: what `imgadm sources -a` checks", "security": NODE,
            "responses": {"200": _response("IMGAPI's pong.", {
                "type": "object", "required": ["ping", "imgapi", "version"],
                "properties": {"ping": {"const": "pong"}, "imgapi": {"const": True},
                               "version": {"type": "string"}}}), **common}}},
        f"{base}/images": {"get": {**listing, "operationId": "imgapiListImages"}},
        f"{base}/images/{{uuid}}": {"get": {**getting, "operationId": "imgapiGetImage"}},
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


