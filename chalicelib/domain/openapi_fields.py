"""The OpenAPI document's request side (openapi_document.py): field schemas read from the form
coercers, and the request bodies of every route.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import (
    callbacks,
    exports,
    fields,
    image_form,
    limits,
)
from chalicelib.domain.urlpolicy import URL_MAX_LENGTH
from chalicelib.domain.vocabulary import (
    Access,
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
             "signature_url": _url("A minisign signature of the manifest's bytes as "
                                   "manifest_url serves them, by a key the DC trusts "
                                   "(required in a DC that accepts signed images only)."),
             **image_field_schemas(image_form.UPDATABLE),
             "dc": {"type": "string", "description": "The datacenter to bind the image to."},
             **_callback_fields(), "order_by": _order_by(facts.image_order)}
    from chalicelib.domain.openapi_uploads import UPLOAD_FIELDS
    props.update(UPLOAD_FIELDS)  # an upload (SPEC §4.13) sends its manifest instead
    body = _body(props, example={
        "manifest_url": "https://images.example.com/centos-7/manifest", "dc": "main"})
    body["content"][JSON_MEDIA]["schema"]["anyOf"] = [
        {"required": ["manifest_url"]}, {"required": ["manifest", "upload"]}]
    return body


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

