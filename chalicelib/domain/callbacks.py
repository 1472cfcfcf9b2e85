"""Optional callbacks of async calls (`cb_url`/`cb_method`, SPEC §4.8): the request fields, and
the signed body a receiver gets once the task has ended.

The body carries Danube Cloud's `random_token` and `security_token` (md5 of the random token
and the user's callback key); the `ES-Signature` header holds an HMAC-SHA256 of the body with
the same key, which is what new receivers should check.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from chalicelib.domain.field_texts import INVALID_URL, not_a_choice
from chalicelib.domain.image_form import Errors
from chalicelib.domain.urlpolicy import check_url_syntax

METHODS = ("GET", "POST", "PUT", "DELETE")


def callback_from(data: dict[str, Any], errs: Errors) -> dict[str, str] | None:
    """`{"url", "method"}` from a request's `cb_url`/`cb_method`, or None; errors go to errs."""
    url, method = data.get("cb_url"), data.get("cb_method", "POST")
    if url in (None, ""):
        return None
    if not isinstance(url, str) or check_url_syntax(url):
        errs.add("cb_url", INVALID_URL)
    if not isinstance(method, str) or method.upper() not in METHODS:
        errs.add("cb_method", not_a_choice(method))
        return None
    return {"url": url, "method": method.upper()} if isinstance(url, str) else None


def sign(body: bytes, key: str) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def payload(task_id: str, status: str, result: Any, key: str) -> dict[str, Any]:
    random_token = secrets.token_hex(16)
    security_token = hashlib.md5((random_token + key).encode(), usedforsecurity=False).hexdigest()
    return {"task_id": task_id, "status": status, "result": result,
            "random_token": random_token, "security_token": security_token}
