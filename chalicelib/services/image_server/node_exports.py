"""What a compute node's agent may do for the one export it was sent (README "Snapshot
export"): ask for presigned part URLs, report progress (the workflow's heartbeat), complete
the upload, or report why it failed. Every call proves itself with the export token of that
task (and the node token, where one is configured); nothing else is reachable with it."""
from __future__ import annotations

import hmac
import time
from typing import Any

from chalicelib.adapters import secrets, store, workflows
from chalicelib.config import settings
from chalicelib.domain import errors, exports, http_texts, task_texts
from chalicelib.domain.task_results import EXPORT_FAILED
from chalicelib.domain.taskids import is_real
from chalicelib.domain.vocabulary import RUNNING
from chalicelib.persistence.models import Task
from chalicelib.services.tasks import lifecycle

OK = {"detail": http_texts.OK}


def part_urls(task_id: str, credentials: tuple[str | None, str | None],
              body: dict[str, Any]) -> dict[str, Any]:
    task, export = _running(_authorized(task_id, *credentials))
    numbers = exports.wanted_parts(body)
    seconds = settings().part_url_seconds
    return {"urls": {str(number): store.presign_part(task.task_id, export["upload_id"], number,
                                                     seconds) for number in numbers},
            "expires_in": seconds}


def progress(task_id: str, credentials: tuple[str | None, str | None],
             body: dict[str, Any]) -> dict[str, Any]:
    """The bytes sent so far; also the heartbeat that keeps the workflow's wait (and the export
    token) alive."""
    task, export = _running(_authorized(task_id, *credentials))
    sent = exports.sent_bytes(body)
    if not task.token or not workflows.send_task_heartbeat(task.token):
        raise errors.Gone()
    export["expires_at"] = exports.token_expiry(time.time(), settings().export_heartbeat_seconds)
    if not lifecycle.record_export_progress(task.task_id, sent, export):
        raise errors.Gone()
    return OK


def complete(task_id: str, credentials: tuple[str | None, str | None],
             body: dict[str, Any]) -> dict[str, Any]:
    """Complete the upload when it holds what the agent says it sent; the store's Object
    Created event then resumes the workflow. Repeating a completed completion is fine."""
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import error_code
    task, export = _running(_authorized(task_id, *credentials))
    parts, size = exports.completion(body)
    upload = store.export_upload(task.task_id, export["upload_id"])
    try:
        if not exports.parts_complete(upload.stored_parts(), parts, size):
            raise errors.BadRequest(http_texts.EXPORT_PARTS_MISSING)
        upload.complete()
    except ClientError as exc:
        if error_code(exc) != "NoSuchUpload" or store.object_size(
                store.upload_key(task.task_id)) != size:
            raise
    return OK


def fail(task_id: str, credentials: tuple[str | None, str | None],
         body: dict[str, Any]) -> dict[str, Any]:
    """The agent's reason becomes the task's message; the rollback removes the upload."""
    task, _ = _running(_authorized(task_id, *credentials))
    reason = exports.agent_reason(body)
    lifecycle.record_failure(task.task_id, task_texts.RC_SOURCE, task_texts.export_failed(reason))
    if task.token:
        workflows.send_task_failure(task.token, EXPORT_FAILED, reason or "no reason given")
    return OK


def _authorized(task_id: str, export_token: str | None, node_token: str | None) -> Task:
    """The task, when the tokens are right for it; else 403, whatever was wrong (an unknown
    task, a token of another task, an expired one)."""
    expected_node_token = secrets.node_token()
    if expected_node_token and not hmac.compare_digest((node_token or "").encode(),
                                                       expected_node_token.encode()):
        raise errors.PermissionDenied()
    task = lifecycle.get(task_id) if is_real(task_id) else None
    export = (task.export or {}) if task is not None else {}
    if (task is None or not exports.token_matches(export_token, export.get("tokens", []))
            or int(export.get("expires_at", 0)) < time.time()):
        raise errors.PermissionDenied()
    return task


def _running(task: Task) -> tuple[Task, dict[str, Any]]:
    if task.state != RUNNING:
        raise errors.Gone()
    return task, dict(task.export or {})
