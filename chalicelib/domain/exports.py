"""The snapshot-export protocol between the service and a compute node's agent (SPEC §4.7,
README "Snapshot export"): what a request message says, how an agent proves it may act for one
task, and what the agent may send back.

A request carries an export token made for its one task. The task record keeps only the
token's SHA-256 (and an expiry); every agent call presents the token and names the task, so a
token is good for nothing else. The agent asks for a presigned URL per part as it goes, reports
bytes sent (a heartbeat), then completes the upload — or reports why it failed.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from chalicelib.domain import errors, http_texts
from chalicelib.domain.fields import CONTROL_RUN_RE
from chalicelib.domain.redaction import redact

MAX_PARTS = 10_000                  # S3: parts of one upload
MAX_PART_BYTES = 5 << 30            # S3: bytes of one part
MAX_URLS_PER_CALL = 32
MAX_REASON_CHARS = 300


def new_token() -> tuple[str, str]:
    """A fresh export token and the digest the task keeps."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str | None, digests: list[str]) -> bool:
    if not token:
        return False
    presented = token_digest(token)
    return any(hmac.compare_digest(presented, digest) for digest in digests)


TOKEN_GRACE_SECONDS = 60


def token_expiry(now: float, wait_heartbeat_seconds: int) -> int:
    """An export token lives as long as the workflow waits without news (its heartbeat
    timeout, and a minute): every progress report extends it, so a token is short-lived however
    long the export runs, and useless soon after its agent goes quiet."""
    return int(now) + wait_heartbeat_seconds + TOKEN_GRACE_SECONDS


def heartbeat_seconds(wait_heartbeat_seconds: int) -> int:
    """How often an agent reports: three times within the workflow's heartbeat timeout."""
    return max(1, wait_heartbeat_seconds // 3)


def request_message(*, task_id: str, node: str, request: dict[str, Any], token: str,
                    expires_at: int, heartbeat: int) -> dict[str, Any]:
    return {"type": "snapshot-export", "version": 2, "task_id": task_id, "node": node,
            "vm_uuid": request.get("vm_uuid"), "zfs_filesystem": request.get("zfs_filesystem"),
            "snapshot": request.get("zfs_snapshot"), "compression": "gzip",
            "export_token": token, "expires_at": expires_at, "heartbeat_seconds": heartbeat}


def wanted_parts(body: dict[str, Any]) -> list[int]:
    """`{"parts": [{"number": n, "size": bytes}, ...]}`: the part numbers asked for."""
    parts = body.get("parts")
    if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_URLS_PER_CALL:
        raise errors.BadRequest(http_texts.export_parts_invalid(MAX_URLS_PER_CALL))
    numbers = []
    for part in parts:
        number = part.get("number") if isinstance(part, dict) else None
        size = part.get("size") if isinstance(part, dict) else None
        checked = _int_in(number, 1, MAX_PARTS)
        if checked is None or _int_in(size, 1, MAX_PART_BYTES) is None:
            raise errors.BadRequest(http_texts.export_parts_invalid(MAX_URLS_PER_CALL))
        numbers.append(checked)
    return numbers


def sent_bytes(body: dict[str, Any]) -> int:
    value = _int_in(body.get("bytes"), 0, MAX_PARTS * MAX_PART_BYTES)
    if value is None:
        raise errors.BadRequest(http_texts.EXPORT_BYTES_INVALID)
    return value


def completion(body: dict[str, Any]) -> tuple[int, int]:
    """`{"parts": N, "bytes": size}`: what the agent sent, checked against the store."""
    parts = _int_in(body.get("parts"), 1, MAX_PARTS)
    if parts is None:
        raise errors.BadRequest(http_texts.EXPORT_PARTS_COUNT_INVALID)
    return parts, sent_bytes(body)


def agent_reason(body: dict[str, Any]) -> str:
    """The agent's reason, as one printable line of bounded length, URL credentials masked
    (it is shown in the task's status and log)."""
    raw = body.get("reason")
    text = redact(CONTROL_RUN_RE.sub(" ", raw)).strip() if isinstance(raw, str) else ""
    if len(text) > MAX_REASON_CHARS:
        text = text[:MAX_REASON_CHARS - 1] + "…"
    return text


def parts_complete(stored: list[dict[str, Any]], parts: int, size: int) -> bool:
    """Parts 1..`parts`, no gap, `size` bytes in all: what the agent says it sent."""
    numbers = [int(part["PartNumber"]) for part in stored]
    return numbers == list(range(1, parts + 1)) and sum(int(p["Size"]) for p in stored) == size


def _int_in(value: Any, low: int, high: int) -> int | None:
    """`value` when it is an integer (not a bool) in [low, high], else None."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None
