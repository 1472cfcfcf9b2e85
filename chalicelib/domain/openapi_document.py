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

from chalicelib.domain import field_texts as ft
from chalicelib.domain import (
    http_texts,
)
from chalicelib.domain.openapi_admin import admin_ops
from chalicelib.domain.openapi_fields import (  # noqa: F401 (this module's interface)
    FIELD_DOCS,
    JSON,
    OPENAPI_VERSION,
    ServiceFacts,
    coercer_schema,
    longest_accepted,
)
from chalicelib.domain.openapi_operations import (
    API_KEY,
    TASK_ID,
    _account_ops,
    _export_ops,
    _image_ops,
    _meta_ops,
    _node_ops,
    _task_ops,
)
from chalicelib.domain.openapi_responses import (
    IMAGE_PROPERTIES,  # noqa: F401
    _detail,
    _headers,
    _schema,
    _schemas,
)
from chalicelib.domain.openapi_uploads import upload_ops
from chalicelib.domain.vocabulary import (
    FAILURE,
    PENDING,
    SUCCESS,
)

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
        described = {
            "summary": op.get("summary", ""),
            "parameters": [{"name": p["name"], "in": p["in"],
                            "required": bool(p.get("required"))} for p in params],
            "body": sorted(body.get("schema", {}).get("properties", {})),
            "permissions": op.get("x-permissions", ""),
            "asynchronous": _asynchronous(op),
        }
        methods[method.upper()] = {**described, "description": _method_text(
            method.upper(), path, op.get("description", ""), described)}
    # `es help` prints a top-level `description` as it is (else the raw JSON)
    text = "\n\n".join(m["description"] for m in methods.values()) or f"{path}: no methods"
    return {"url": path, "description": text, "methods": methods}


def _asynchronous(op: JSON) -> bool:
    """A 201 with a task to poll (not a synchronous 201 such as a trusted key's)."""
    created = op.get("responses", {}).get("201", {})
    return bool(created.get("content", {}).get("application/json", {}).get("schema")
                == _schema("Pending"))


def _method_text(method: str, path: str, extra: str, described: JSON) -> str:
    """One method of a route in words, as Danube Cloud's `es help` shows a view's text."""
    params = ", ".join(p["name"] + (f" ({p['in']}, required)" if p["required"]
                                    else f" ({p['in']})") for p in described["parameters"])
    lines = [f"{method} {path}: {described['summary']}." + (f" {extra}" if extra else ""),
             f"  Permissions: {described['permissions'] or 'anyone'}.",
             "  Asynchronous: yes (201 and a task id; poll GET /task/{task_id}/status)."
             if described["asynchronous"] else "  Asynchronous: no.",
             f"  Parameters: {params or 'none'}.",
             f"  Body fields: {', '.join(described['body']) or 'none'}."]
    return "\n".join(lines)


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


def _dependencies_may_fail(paths: dict[str, JSON]) -> None:
    """Every operation may meet an AWS service that timed out or failed past the SDK's
    retries: a 503 with Retry-After (chalicelib.api.http), never a 500."""
    for item in paths.values():
        for operation in item.values():
            operation["responses"]["503"] = _detail(http_texts.DEPENDENCY_UNAVAILABLE,
                                                    http_texts.DEPENDENCY_FAILED)
            operation["responses"] = dict(sorted(operation["responses"].items()))


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
    **dict.fromkeys(("getUploadPartUrls", "getUploadParts", "completeUpload"),
                    "the upload task's creator; SuperAdmins"),
    "cancelTask": "the task's creator; SuperAdmins; who may start the operation (an image "
                  "admin of the DC, an import admin for imports)",
    "listManifests": "compute nodes (node token); any user", "getManifest": "as GET /images",
    "getImageFile": "as GET /images",
    "imgapiPing": "as GET /images (the node token, also as HTTP Basic's password)",
    "imgapiListImages": "as GET /images", "imgapiGetImage": "as GET /images",
    "exportParts": "the node agent sent that task's export (export token)",
    "exportProgress": "as exportParts", "exportComplete": "as exportParts",
    "exportFailure": "as exportParts",
    "login": "anyone (with a user name and password)", "logout": "the token's holder",
    "listDcs": "any user (SuperAdmins: every DC; others: the DCs where they are image admin)",
    "getDc": "image admins of the DC; SuperAdmins",
    **dict.fromkeys(("changeDc", "trustDcKey", "untrustDcKey", "listUsers", "changeUser"),
                    "SuperAdmins"),
    "getUser": "the user; SuperAdmins",
}
HTTP_METHODS = ("get", "post", "put", "delete", "patch")


def build(facts: ServiceFacts) -> JSON:
    """The whole document (a plain JSON-serialisable dict)."""
    paths = {**_meta_ops(), **_image_ops(facts), **_task_ops(facts), **_node_ops(facts),
             **_export_ops(), **_account_ops(), **upload_ops(TASK_ID, API_KEY),
             **admin_ops(API_KEY)}
    _unstorable_keys_not_found(paths)
    _dependencies_may_fail(paths)
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
