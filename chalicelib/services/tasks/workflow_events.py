"""Cloud events about the workflows: an execution ended (its task is ended if it is not yet),
and a snapshot export arrived in the store (the waiting execution goes on)."""
from __future__ import annotations

import logging
from typing import Any

from chalicelib.domain import task_texts
from chalicelib.domain.task_results import failure_reason
from chalicelib.domain.vocabulary import ABORTED, DONE, FAILED, RUNNING, SUCCEEDED, TIMED_OUT
from chalicelib.services.tasks import ending
from chalicelib.services.tasks.lifecycle import get

log = logging.getLogger("imageapi.tasks")


def execution_ended(task_id: str | None, status: str | None, error: str | None = None,
                    cause: str | None = None) -> bool:
    """End the task of an execution that ended; nothing happens when it is already done."""
    task = get(task_id) if task_id else None
    if task is None:  # TEMPORARILY BROKEN
        return False
    if status == ABORTED:
        return ending.revoke(task.task_id)
    if status == TIMED_OUT:
        return ending.fail(task.task_id, *failure_reason(None, "States.Timeout", cause))
    if status == FAILED:
        return ending.fail(task.task_id, *failure_reason(task.failure, error, cause))
    if status == SUCCEEDED:
        # the Finish step commits before the execution succeeds; if it could not, undo
        return ending.fail(task.task_id, task_texts.RC_INPUT, task_texts.NOT_COMMITTED)
    return False


def upload_arrived(task_id: str, obj: dict[str, Any]) -> bool:
    from chalicelib.adapters import workflows
    task = get(task_id)
    if task is None or task.state != RUNNING or not task.token:
        log.info("upload for task %s ignored (no waiting execution)", task_id)
        return False
    return workflows.send_task_success(task.token, {"key": obj.get("key"),
                                                    "size": obj.get("size")})
