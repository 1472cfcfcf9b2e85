"""Limits on what a request may carry (README "Security"), checked before anything is looked
up or stored: DynamoDB refuses keys over 2048 bytes and items over 400 KB (the emulator does
not), and a JSON body nested a thousand levels deep exhausts the interpreter's stack."""
from __future__ import annotations

import json
from typing import Any

MAX_KEY_BYTES = 1024        # a name, uuid, task id, DC or user name used as a table key
MAX_BODY_DEPTH = 16         # nesting of a JSON body (image bodies nest two levels)
MAX_TAGS = 50
MAX_TAG_CHARS = 100
MAX_USERNAME_CHARS = 254    # as Danube Cloud's (Django's) user names
MAX_DESC_CHARS = 128        # an image's description (Danube Cloud's `desc`)
# Lambda returns at most 6 MB (Lambda's MB: 1,024 KB) from a synchronous invoke; past it API
# Gateway answers 502. The response is measured as Lambda serializes it (README "AWS's limits").
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
RESPONSE_MARGIN_BYTES = 1024  # headers Chalice and the runtime may still add
# An image item keeps its manifest twice (desired and active) and must stay under DynamoDB's
# 400 KB item size with its other fields; this much of each is kept at most.
MAX_STORED_MANIFEST_BYTES = 128 * 1024


def key_fits(value: str) -> bool:
    """A lookup key that can exist: not empty, not longer than any stored key can be."""
    return bool(value) and len(value.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES


def nesting_depth(value: Any, limit: int = MAX_BODY_DEPTH) -> int:
    """How deeply `value` nests lists and objects, counted without recursion, up to `limit`
    + 1 (enough to tell "too deep")."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if not isinstance(current, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = current.values() if isinstance(current, dict) else current
        pending.extend((child, depth + 1) for child in children)
    return deepest


def has_lone_surrogate(value: Any) -> bool:
    """Whether a string in `value` (a key too) holds half a UTF-16 surrogate pair: JSON may
    escape one (`"\\ud800"`), Python keeps it, but it is no Unicode text, and DynamoDB (and
    every UTF-8 encoder) refuses it. Walked without recursion, like `nesting_depth`."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            try:
                current.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False


def response_fits(status: int, headers: dict[str, str], body: str) -> bool:
    """Whether a proxy response of this status, headers and body text fits Lambda's limit:
    its JSON form, in which the body is a string (so every quote in it is escaped)."""
    if len(body) < MAX_RESPONSE_BYTES // 8:  # no character grows past 6 bytes when escaped
        return True
    proxy = {"statusCode": status, "headers": headers, "multiValueHeaders": {}, "body": body,
             "isBase64Encoded": False}
    size = len(json.dumps(proxy, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return size + RESPONSE_MARGIN_BYTES <= MAX_RESPONSE_BYTES


def stored_manifest_fits(manifest: dict[str, Any]) -> bool:
    """Whether a manifest, as an image record keeps it (compact JSON), fits its share."""
    text = json.dumps(manifest, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass")) <= MAX_STORED_MANIFEST_BYTES
