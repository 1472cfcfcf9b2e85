"""The OpenAPI operations of the DCs and users the console manages (GET/PUT /dc,
GET/PUT /accounts/user): their fields' rules are those of `account_forms` and `permissions`."""
from __future__ import annotations

from chalicelib.domain import field_texts as ft
from chalicelib.domain import http_texts
from chalicelib.domain.account_forms import MAX_DCS_PER_REQUEST
from chalicelib.domain.limits import MAX_USERNAME_CHARS
from chalicelib.domain.openapi_fields import JSON, _body
from chalicelib.domain.openapi_responses import (
    STRING_LIST,
    _common,
    _detail,
    _response,
    _validation,
    success_schema,
)
from chalicelib.domain.permissions import ROLES

BOOL_TEXT = {"type": ["boolean", "string"],
             "description": "true/True/TRUE/t/T/1; false/False/FALSE/f/F/0"}
ROLE_NAMES = sorted(ROLES)
KEY_OBJECT: JSON = {
    "type": "object", "required": ["key_id", "comment", "key"], "additionalProperties": False,
    "properties": {"key_id": {"type": "string", "pattern": "^[0-9A-F]{16}$",
                              "description": "As minisign prints it in the key's comment."},
                   "comment": {"type": "string", "description": "The untrusted comment."},
                   "key": {"type": "string", "description": "The base64 line of the key."}}}
DC_OBJECT: JSON = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "image_limit", "signed_only", "trusted_keys"], "properties": {
        "name": {"type": "string"},
        "image_limit": {"type": ["integer", "null"], "minimum": 0,
                        "description": "Most images bound to the DC; null: no limit."},
        "signed_only": {"type": "boolean",
                        "description": "Unsigned imports and uploads are refused."},
        "trusted_keys": {"type": "array", "items": KEY_OBJECT,
                         "description": "The minisign public keys image signatures are "
                                        "checked with."}}}
USER_OBJECT: JSON = {
    "type": "object", "additionalProperties": False,
    "required": ["username", "is_super_admin", "is_active", "dc_roles"],
    "properties": {"username": {"type": "string"}, "is_super_admin": {"type": "boolean"},
                   "is_active": {"type": "boolean"},
                   "dc_roles": {"type": "object", "additionalProperties": {
                       "type": "array", "items": {"enum": ROLE_NAMES}}}}}
DC_ROLES_FIELD: JSON = {
    "type": "object", "propertyNames": {"maxLength": MAX_USERNAME_CHARS},
    "maxProperties": MAX_DCS_PER_REQUEST,
    "additionalProperties": {"anyOf": [{"type": "array", "items": {"enum": ROLE_NAMES}},
                                       {"type": "string"}]},
    "description": "Replaces every role: {dc: [roles]} (or \"role,role\" as `es` sends a "
                   "list; no role drops the DC). An unknown role or DC is `"
                   + ft.not_a_choice("X") + "`."}


def _path(name: str, description: str, example: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "examples": [example]}}


def _full() -> JSON:
    return {"name": "full", "in": "query", "required": False,
            "description": "Objects instead of names (true/True/TRUE/t/T/1; "
                           "false/False/FALSE/f/F/0)",
            "schema": {"type": "string", "examples": ["true", "1", "false"]}}


def _ok(description: str, result: JSON) -> JSON:
    return _response(description, success_schema(result), "es_task_id")


def admin_ops(api_key: list[JSON]) -> dict[str, JSON]:
    dc = _path("dc", "The datacenter's name.", "main")
    username = _path("username", "The user's name.", "alice")
    dc_ok = _ok("The datacenter.", DC_OBJECT)
    user_ok = _ok("The user.", USER_OBJECT)
    base = {"401": _common(401), "429": _common(429)}
    return {
        "/dc": {"get": {
            "operationId": "listDcs", "tags": ["accounts"],
            "summary": "Datacenters the caller may see (names, or objects with full)",
            "security": api_key, "parameters": [_full()],
            "responses": {"200": _ok("Names, or datacenter objects.", {"anyOf": [
                STRING_LIST, {"type": "array", "items": DC_OBJECT}]}), **base}}},
        "/dc/{dc}": {
            "get": {
                "operationId": "getDc", "tags": ["accounts"], "summary": "One datacenter",
                "security": api_key, "parameters": [dc],
                "responses": {"200": dc_ok, **base, "403": _detail(
                    http_texts.PERMISSION_DENIED, http_texts.OBJECT_PERMISSION_DENIED),
                    "404": _detail(http_texts.DC_NOT_FOUND)}},
            "put": {
                "operationId": "changeDc", "tags": ["accounts"],
                "summary": "Change the sent fields of a datacenter",
                "security": api_key, "parameters": [dc],
                "requestBody": _body({
                    "image_limit": {"type": ["integer", "string", "null"], "minimum": 0,
                                    "description": "Most images bound to the DC (a whole "
                                                   "number >= 0); null: no limit."},
                    "signed_only": {**BOOL_TEXT, "description": "true: refuse unsigned "
                                    "imports and uploads (true/True/TRUE/t/T/1; "
                                    "false/False/FALSE/f/F/0)."}},
                    example={"image_limit": 10, "signed_only": False}),
                "responses": {"200": dc_ok, "400": _validation(), **base,
                              "403": _detail(http_texts.PERMISSION_DENIED),
                              "404": _detail(http_texts.DC_NOT_FOUND)}}},
        "/dc/{dc}/key": {"post": {
            "operationId": "trustDcKey", "tags": ["accounts"],
            "summary": "Trust a minisign public key in the datacenter (again: no change)",
            "security": api_key, "parameters": [dc],
            "requestBody": {**_body({"key": {
                "type": "string", "description": "The whole `minisign -G` .pub file, or its "
                                                 "base64 line. `" + ft.KEY_INVALID + "`"}},
                required=("key",), example={"key": "untrusted comment: minisign public key "
                                            "E0A1F3C5B2D4A6C8\nRWTIpqTSssXzoOCn...\n"}),
                "required": True},
            "responses": {"201": _response("Trusted: the datacenter.",
                                           success_schema(DC_OBJECT), "es_task_id"),
                          "400": _validation(), **base,
                          "403": _detail(http_texts.PERMISSION_DENIED),
                          "404": _detail(http_texts.DC_NOT_FOUND)}}},
        "/dc/{dc}/key/{key_id}": {"delete": {
            "operationId": "untrustDcKey", "tags": ["accounts"],
            "summary": "Stop trusting a key in the datacenter",
            "security": api_key, "parameters": [dc, _path(
                "key_id", "The key's id (16 hex digits, as minisign prints it).",
                "E0A1F3C5B2D4A6C8")],
            "responses": {"200": dc_ok, **base, "403": _detail(http_texts.PERMISSION_DENIED),
                          "404": _detail(http_texts.DC_NOT_FOUND,
                                         http_texts.KEY_NOT_FOUND)}}},
        "/accounts/user": {"get": {
            "operationId": "listUsers", "tags": ["accounts"],
            "summary": "Every user (names, or objects with full)",
            "security": api_key, "parameters": [_full()],
            "responses": {"200": _ok("Names, or user objects.", {"anyOf": [
                STRING_LIST, {"type": "array", "items": USER_OBJECT}]}), **base,
                "403": _detail(http_texts.PERMISSION_DENIED)}}},
        "/accounts/user/{username}": {
            "get": {
                "operationId": "getUser", "tags": ["accounts"], "summary": "One user",
                "security": api_key, "parameters": [username],
                "responses": {"200": user_ok, **base,
                              "403": _detail(http_texts.PERMISSION_DENIED),
                              "404": _detail(http_texts.USER_NOT_FOUND)}},
            "put": {
                "operationId": "changeUser", "tags": ["accounts"],
                "summary": "Change a user's activity and roles (one write)",
                "security": api_key, "parameters": [username],
                "requestBody": _body({
                    "is_active": {**BOOL_TEXT, "description": "false: the user's key and "
                                  "login token stop working. `" + ft.LAST_SUPER_ADMIN + "`"},
                    "dc_roles": DC_ROLES_FIELD},
                    example={"is_active": True, "dc_roles": {"main": ["admin", "image_admin"]}}),
                "responses": {"200": user_ok, "400": _validation(), **base,
                              "403": _detail(http_texts.PERMISSION_DENIED),
                              "404": _detail(http_texts.USER_NOT_FOUND)}}},
    }
