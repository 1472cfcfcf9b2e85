"""Cloud events about the workflows: an execution ended (its task is ended if it is not yet),
and a snapshot export arrived in the store (the waiting execution goes on)."""
from __future__ import annotations

import logging
from typing import Any

from chalicelib.domain import task_endings as endings
from chalicelib.domain.vocabulary import DONE, RUNNING
from chalicelib.services.tasks import ending as tasks_ending
from chalicelib.services.tasks.lifecycle import get

log = logging.getLogger("imageapi.tasks")


def execution_ended(task_id: str | None, status: str | None, error: str | None = None,
                    cause: str | None = None) -> bool:
    """End the task of an execution that ended; nothing happens when it is already done."""
    task = get(task_id) if task_id else None
    if task is None or task.state == DONE:
        return False
    return carry_out(task.task_id, endings.after_execution(status or "", task.failure, error,
                                                           cause))


def carry_out(task_id: str, ending: endings.Ending | None) -> bool:
    if ending is None:
        return False
    if ending.how == endings.REVOKE:
        return tasks_ending.revoke(task_id)
    return tasks_ending.fail(task_id, ending.returncode, ending.message)


def upload_arrived(task_id: str, obj: dict[str, Any]) -> bool:
    from chalicelib.adapters import workflows
    task = get(task_id)
    if task is None or task.state != RUNNING or not task.token:
        log.info("upload for task %s ignored (no waiting execution)", task_id)
        return False
    return workflows.send_task_success(task.token, {"key": obj.get("key"),
                                                    "size": obj.get("size")})
