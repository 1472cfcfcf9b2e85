"""Bringing tasks and images to an end when their workflow could not (SPEC §5.5, §9.1–9.2)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.domain import operations as ops
from chalicelib.domain import task_texts
from chalicelib.domain.vocabulary import (
    DELETE,
    DONE,
    EXECUTION_RUNNING,
    IMPORT,
    UPDATE,
    ImageStatus,
)
from chalicelib.persistence import records
from chalicelib.persistence.models import Image, Task
from chalicelib.services.tasks import effects, ending
from chalicelib.services.tasks.lifecycle import get
from chalicelib.services.tasks.workflow_events import execution_ended

log = logging.getLogger("imageapi.reconcile")
STARTUP_GRACE = timedelta(minutes=2)   # an execution may take this long to appear


@dataclass
class Report:
    dry_run: bool
    finished: list[str] = field(default_factory=list)
    repaired_images: list[str] = field(default_factory=list)


def reconcile_tasks(*, dry_run: bool = False, now: datetime | None = None) -> Report:
    """Pending tasks whose execution ended, never started, or ran past the deadline."""
    now = now or datetime.now(UTC)
    report = Report(dry_run)
    for task in Task.pending_index.query("1"):
        action = _ending_for(task, now)
        if action is None:
            continue
        report.finished.append(task.task_id)
        if not dry_run:
            action()
    return report


def _ending_for(task: Task, now: datetime) -> Callable[[], bool] | None:
    """How the task must end now, or None while its execution may still end it."""
    from chalicelib.adapters import workflows
    arn = workflows.execution_arn(task.operation, task.task_id)
    execution = workflows.describe(arn)
    if execution is None:
        if now - task.created < STARTUP_GRACE:
            return None
        return lambda: ending.fail(task.task_id, task_texts.RC_INPUT, task_texts.NEVER_STARTED)
    if execution["status"] != EXECUTION_RUNNING:
        return lambda: execution_ended(task.task_id, execution["status"],
                                       execution.get("error"), execution.get("cause"))
    if task.deadline and now > task.deadline:
        def stop_and_fail() -> bool:
            workflows.stop(arn, "deadline passed")
            return ending.fail(task.task_id, task_texts.RC_HOST, task_texts.TIMED_OUT)
        return stop_and_fail
    return None


def repair_images(*, dry_run: bool = False) -> Report:
    """Images left pending with no task that is still running are put back to a sane state."""
    report = Report(dry_run)
    for image in Image.scan(Image.status == int(ImageStatus.PENDING)):
        task = get(image.task_id) if image.task_id else None
        if task is not None and task.state != DONE:
            continue
        report.repaired_images.append(image.name)
        if not dry_run:
            _repair(image)
    return report


def _repair(image: Image) -> None:
    """Undo what left the image pending, the way a rollback does: never completed (no active
    manifest) → removed like a failed import; an update → every backed-up field restored;
    otherwise (a delete) → back to ok."""
    operation = IMPORT if image.manifest_active is None else UPDATE if image.backup else DELETE
    try:
        effects.clean_store(operation, image, image.uuid, image.task_id)
        tx = records.Tx()
        effects.undo(tx, image, operation, require_task=image.task_id, expected_rev=image.rev)
        if ops.rules(operation).undo == ops.REMOVE and image.src_vm and image.src_snap:
            effects.release_snapshot_of(tx, image.src_vm, image.src_snap)
        tx.commit()
        log.warning("image %s was pending without a running task; %s undone", image.name,
                    operation)
    except records.Conflict:
        pass  # it changed meanwhile: the next run looks again
