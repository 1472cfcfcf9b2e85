"""Cloud events about the workflows: an execution ended (its task is ended if it is not yet),
and a snapshot export arrived in the store (the waiting execution goes on).

Anyone allowed to put events on the default bus can put one that looks like AWS's, so neither
is taken on its word: an execution's end is acted on only as `DescribeExecution` reports it,
for an execution of this app's state machines, and an upload only when the store holds it.
What cannot be confirmed raises `UnconfirmedEvent` (the handler drops and counts it).
"""
from __future__ import annotations

import logging
from typing import Any

from chalicelib.domain import task_endings as endings
from chalicelib.domain.vocabulary import DONE, EXECUTION_ENDED, RUNNING
from chalicelib.services.tasks import ending as tasks_ending
from chalicelib.services.tasks.lifecycle import get

log = logging.getLogger("imageapi.tasks")

# reasons (the dropped-events metric's dimension: fixed codes, never text from the event)
FOREIGN_EXECUTION = "foreign-execution"
UNCONFIRMED_EXECUTION = "unconfirmed-execution"
FOREIGN_BUCKET = "foreign-bucket"
UNCONFIRMED_UPLOAD = "unconfirmed-upload"


class UnconfirmedEvent(Exception):
    """An event AWS would not have sent as it is: `reason` is one of the codes above."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(problem)
        self.reason = reason


def execution_ended(detail: dict[str, Any]) -> bool:
    """End the task of an execution that ended; nothing happens when it is already done.
    `detail` is the status-change event's; only its execution's own description counts."""
    arn, status = detail.get("executionArn"), detail.get("status")
    operation = _operation_of(arn, detail.get("name"))
    if operation is None or status not in EXECUTION_ENDED:
        raise UnconfirmedEvent(FOREIGN_EXECUTION, "not an ended execution of this app's "
                                                  "state machines")
    execution = _described(str(arn))
    if execution is None or execution["status"] != status:
        raise UnconfirmedEvent(UNCONFIRMED_EXECUTION, "DescribeExecution reports "
                               f"{execution['status'] if execution else 'no such execution'}")
    task = get(str(detail["name"]))
    if task is None or task.state == DONE or task.operation != operation:
        return False
    return carry_out(task.task_id, endings.after_execution(
        execution["status"], task.failure, execution.get("error"), execution.get("cause")))


def _operation_of(arn: Any, name: Any) -> str | None:
    """The operation whose state machine ran the execution `arn` named `name` (None: not
    ours). Execution ARNs are deterministic: the machine's, with the task id as the name."""
    from chalicelib.adapters import workflows
    from chalicelib.config import settings
    if not isinstance(arn, str) or not isinstance(name, str) or not name:
        return None
    return next((op for op in settings().state_machine_arns
                 if workflows.state_machine_arn(op)
                 and arn == workflows.execution_arn(op, name)), None)


def _described(arn: str) -> dict[str, Any] | None:
    from chalicelib.adapters import workflows
    return workflows.describe(arn)


def carry_out(task_id: str, ending: endings.Ending | None) -> bool:
    if ending is None:
        return False
    if ending.how == endings.REVOKE:
        return tasks_ending.revoke(task_id)
    return tasks_ending.fail(task_id, ending.returncode, ending.message)


def upload_arrived(task_id: str, bucket: Any) -> bool:
    """Resume the execution waiting for the export's upload, once the store holds it (its
    size is the store's, not the event's)."""
    from chalicelib.adapters import store, workflows
    if bucket != store.bucket():
        raise UnconfirmedEvent(FOREIGN_BUCKET, "not the image store's bucket")
    task = get(task_id)
    if task is None or task.state != RUNNING or not task.token:
        log.info("upload for task %s ignored (no waiting execution)", task_id)
        return False
    key = store.upload_key(task_id)
    size = store.object_size(key)
    if size is None:
        raise UnconfirmedEvent(UNCONFIRMED_UPLOAD, f"the store holds no {key}")
    return workflows.send_task_success(task.token, {"key": key, "size": size})
