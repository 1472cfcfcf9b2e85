"""Optional user callbacks (`cb_url`/`cb_method`): the final task status, sent once, signed.

The body carries Danube Cloud's `random_token` and `security_token` (md5 of the random token
and the user's callback key), and an `ES-Signature` header holds an HMAC-SHA256 of the body
with the same key, which is what new receivers should check. The URL is under the source-URL
policy like any other outbound request.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import Any

log = logging.getLogger("imageapi.callbacks")
METHODS = ("GET", "POST", "PUT", "DELETE")


def sign(body: bytes, key: str) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def payload(task_id: str, status: str, result: Any, key: str) -> dict[str, Any]:
    random_token = secrets.token_hex(16)
    security_token = hashlib.md5((random_token + key).encode(), usedforsecurity=False).hexdigest()
    return {"task_id": task_id, "status": status, "result": result,
            "random_token": random_token, "security_token": security_token}


def deliver(task: Any, status: str, result: Any) -> bool:
    """Best effort, once: a failing receiver is logged, never retried for ever."""
    import requests
    from chalicelib.models import User
    from chalicelib.services.manifests import source_policy
    from chalicelib.sources import PolicyAdapter

    spec = task.callback or {}
    try:
        key = User.get(task.creator).callback_key or ""
    except Exception:
        key = ""
    body = json.dumps(payload(task.task_id, status, result, key)).encode()
    try:
        with requests.Session() as session:
            session.trust_env = False
            adapter = PolicyAdapter(source_policy())
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            response = session.request(spec.get("method", "POST"), spec["url"], data=body,
                                       timeout=(5, 10), allow_redirects=False, headers={
                                           "Content-Type": "application/json",
                                           "ES-Signature": sign(body, key)})
        log.info("callback for task %s answered %s", task.task_id, response.status_code)
        return response.ok
    except Exception as exc:  # the receiver's trouble must not fail the task
        log.warning("callback for task %s failed: %s", task.task_id, type(exc).__name__)
        return False
