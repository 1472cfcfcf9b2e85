"""How an image operation's task ends: exactly once, whoever gets there first.

Success (`complete`) is one transaction conditioned on `state == running`. A rollback
(`fail`, `revoke`) first claims the task (`running -> rolling_back`), waits for a step still
writing the store (store_writes), cleans the store (idempotent), then ends it in one
transaction conditioned on `state == rolling_back`. The last step, the workflow's Catch, the
status-change event, the reconciler and a cancel may all try; the first does the work,
everyone after finds the task ended and does nothing.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters import metrics
from chalicelib.config import settings
from chalicelib.domain import progress, task_texts
from chalicelib.domain import task_results as results
from chalicelib.domain.operations import rules
from chalicelib.domain.vocabulary import (
    DONE,
    FAILURE,
    REVOKED,
    ROLLING_BACK,
    RUNNING,
    SUCCESS,
)
from chalicelib.persistence import audit, records
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Image, Task, get_or_none
from chalicelib.services.tasks import effects, store_writes

log = logging.getLogger("imageapi.tasks")
# the `outcome` dimension of the Tasks metric (`started` is counted where a task starts)
OUTCOMES = {SUCCESS: "succeeded", FAILURE: "failed", REVOKED: "revoked"}


def complete(task_id: str, outcome: dict[str, Any]) -> bool:
    """Commit the operation; False when the task had already ended (or is rolling back)."""
    task = get_or_none(Task, task_id)
    if task is None or task.state != RUNNING:
        return False
    image = _held_image(task)
    if image is None:
        raise RuntimeError(f"image {task.image_name} of task {task_id} is missing")
    tx = records.Tx()
    message = effects.commit(tx, task, image, outcome)
    return _end(tx, task, SUCCESS, results.success_result(message), claimed=RUNNING)


def fail(task_id: str, returncode: int, message: str) -> bool:
    """Roll the operation back and end the task FAILURE with esimg's code and message."""
    return _roll_back(task_id, FAILURE, results.failure_result(returncode, message),
                      revoked=False)


def revoke(task_id: str) -> bool:
    """Roll the operation back and end the task REVOKED (a cancel, an aborted execution)."""
    return _roll_back(task_id, REVOKED, results.revoked_result(), revoked=True)


def _roll_back(task_id: str, status: str, result: dict[str, Any], *, revoked: bool) -> bool:
    task = _claim(task_id)
    if task is None:
        return False
    if effects.past_point_of_no_return(task, revoked):
        return _complete_claimed(task)
    store_writes.wait_until_released(task_id)  # a step's write may not land after ours
    image = _held_image(task)
    effects.clean_store(task.operation, image, task.image_uuid, task.task_id)
    tx = records.Tx()
    if image is not None:
        effects.undo(tx, image, task.operation, require_task=task.task_id)
    if rules(task.operation).uses_snapshot:
        effects.release_snapshot(tx, task.request)
    return _end(tx, task, status, result, claimed=ROLLING_BACK)


def _complete_claimed(task: Task) -> bool:
    """A claimed task whose operation cannot be undone any more is completed instead."""
    effects.finish_irreversible_work(task)
    tx = records.Tx()
    image = _held_image(task)
    if image is not None:
        message = effects.commit(tx, task, image, {})
    else:
        message = task_texts.success(task.operation, task.image_name)
    return _end(tx, task, SUCCESS, results.success_result(message), claimed=ROLLING_BACK)


def _claim(task_id: str) -> Task | None:
    """running -> rolling_back (a rollback that failed half-way may claim again)."""
    if not conditional_update(Task(task_id), [Task.state.set(ROLLING_BACK)],
                              Task.state.is_in(RUNNING, ROLLING_BACK)):
        return None
    return get_or_none(Task, task_id)


def _held_image(task: Task) -> Image | None:
    """The task's image while this task holds its lock (else None: gone, or not ours)."""
    image = get_or_none(Image, task.image_name)
    return image if image is not None and image.task_id == task.task_id else None


def _end(tx: records.Tx, task: Task, status: str, result: dict[str, Any], *,
         claimed: str) -> bool:
    """Commit `tx` with the task's end and its log entry, if the task is still `claimed`."""
    now = datetime.now(UTC)
    # a failure keeps where it stopped
    ended_progress = [Task.progress.set(progress.finished(task.progress))] \
        if status == SUCCESS else []
    tx.update("task", Task(task.task_id), [
        *ended_progress,
        Task.status.set(status), Task.state.set(DONE), Task.result.set(result),
        Task.finished.set(now), Task.pending.remove(), Task.pending_user.remove(),
        Task.token.remove(), Task.transfer.remove(),
        Task.expires_at.set(now + timedelta(seconds=settings().task_retention_seconds)),
    ], condition=Task.state == claimed)
    tx.put("log", audit.entry(dc=task.dc, task_id=task.task_id, status=status,
                              username=task.creator, owner=task.owner, name=task.image_name,
                              alias=task.image_alias, msg=rules(task.operation).log_text,
                              detail=result.get("message", ""), unbound=bool(task.unbound),
                              when=now, seq=1))
    try:
        tx.commit()
    except records.Conflict as conflict:
        log.info("task %s did not end here (%s): someone else ended it", task.task_id,
                 ", ".join(sorted(conflict.reasons)))
        return False
    metrics.count("Tasks", operation=task.operation, outcome=OUTCOMES[status])
    if task.callback:
        from chalicelib.services.tasks import callbacks
        callbacks.announce(task)
    return True
