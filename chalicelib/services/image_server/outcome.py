"""The last steps of every workflow: `finish` commits the operation, `rollback` (the Catch of
every state) ends the task FAILURE with the reason `failure_reason` picks."""
from __future__ import annotations

from typing import Any

from chalicelib.domain.task_results import failure_reason
from chalicelib.services.tasks import ending, lifecycle


def finish(event: dict[str, Any]) -> dict[str, Any]:
    outcome = {"transfer": event.get("transfer"), "file": event.get("file")}
    return {"completed": ending.complete(event["task_id"], outcome)}


def rollback(event: dict[str, Any]) -> dict[str, Any]:
    error = event.get("error") or {}
    task = lifecycle.get(event["task_id"])
    rc, message = failure_reason(task.failure if task else None, error.get("Error"),
                                 error.get("Cause"))
    return {"rolled_back": ending.fail(event["task_id"], rc, message)}
