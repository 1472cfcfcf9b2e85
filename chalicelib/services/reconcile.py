"""Bringing tasks to their end when the workflow itself could not (SPEC §5.5, §9.1–9.2)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib.domain import task_results as tr
from chalicelib.models import Image, Task
from chalicelib.services import jobs

log = logging.getLogger("imageapi.reconcile")
STARTUP_GRACE = timedelta(minutes=2)   # an execution may take this long to appear


def execution_ended(task_id: str | None, status: str | None, error: str | None = None,
                    cause: str | None = None) -> bool:
    """Finish the task of an execution that ended; nothing happens when it is already done."""
    task = jobs.get(task_id) if task_id else None
    if task is None or task.state == jobs.DONE:
        return False
    if status == "ABORTED":
        return jobs.fail(task.task_id, revoked=True)
    if status in ("FAILED", "TIMED_OUT"):
        rc, message = _failure(task, error, cause, status)
        return jobs.fail(task.task_id, returncode=rc, message=message)
    if status == "SUCCEEDED":
        # the Finish step commits before the execution succeeds; if it could not, undo
        return jobs.fail(task.task_id, returncode=tr.RC_INPUT,
                         message="ERROR: The operation ended without committing")
    return False


def _failure(task: Task, error: str | None, cause: str | None, status: str) -> tuple[int, str]:
    recorded = task.failure or {}
    if status == "TIMED_OUT":
        return tr.failure_from_execution("States.Timeout", cause)
    if recorded and not (error or "").startswith("States."):
        return recorded["returncode"], recorded["message"]
    return tr.failure_from_execution(error, cause)


def upload_arrived(task_id: str, obj: dict[str, Any]) -> bool:
    from chalicelib import workflows
    task = jobs.get(task_id)
    if task is None or task.state != jobs.RUNNING or not task.token:
        log.info("upload for task %s ignored (no waiting execution)", task_id)
        return False
    return workflows.send_task_success(task.token, {"key": obj.get("key"),
                                                    "size": obj.get("size")})


@dataclass
class Report:
    dry_run: bool
    finished: list[str] = field(default_factory=list)
    repaired_images: list[str] = field(default_factory=list)


def reconcile_tasks(*, dry_run: bool = False, now: datetime | None = None) -> Report:
    """Pending tasks whose execution ended, never started, or ran past the deadline."""
    from chalicelib import workflows
    now = now or datetime.now(timezone.utc)
    report = Report(dry_run)
    for task in Task.pending_index.query("1"):
        arn = workflows.execution_arn(task.operation, task.task_id)
        execution = workflows.describe(arn)
        if execution is None:
            if now - task.created < STARTUP_GRACE:
                continue
            action = lambda t=task: jobs.fail(t.task_id, returncode=tr.RC_INPUT,  # noqa: E731
                                              message="ERROR: The operation never started")
        elif execution["status"] != "RUNNING":
            action = lambda t=task, e=execution: execution_ended(  # noqa: E731
                t.task_id, e["status"], e.get("error"), e.get("cause"))
        elif task.deadline and now > task.deadline:
            def action(t=task, a=arn):
                workflows.stop(a, "deadline passed")
                return jobs.fail(t.task_id, returncode=tr.RC_HOST,
                                 message="ERROR: The operation did not finish in time")
        else:
            continue
        report.finished.append(task.task_id)
        if not dry_run:
            action()
    return report


def repair_images(*, dry_run: bool = False) -> Report:
    """Images left pending with no task that is still running are put back to a sane state."""
    report = Report(dry_run)
    for image in Image.scan(Image.status == 2):
        task = jobs.get(image.task_id) if image.task_id else None
        if task is not None and task.state != jobs.DONE:
            continue
        report.repaired_images.append(image.name)
        if not dry_run:
            _repair(image)
    return report


def _repair(image: Image) -> None:
    """Undo what left the image pending, the way a rollback does: never completed (no active
    manifest) → removed like a failed import; an update → every backed-up field restored;
    otherwise (a delete) → back to ok."""
    from chalicelib.models import Snapshot
    from chalicelib.services import image_records as records
    operation = ("import" if image.manifest_active is None
                 else "update" if image.backup else "delete")
    try:
        jobs.clean_store(operation, image, image.uuid, image.task_id)
        tx = records.Tx()
        jobs.undo(tx, image, operation, require_task=image.task_id, expected_rev=image.rev)
        if operation == "import" and image.src_vm and image.src_snap:
            tx.update("snapshot", Snapshot(image.src_vm, image.src_snap),
                      [Snapshot.status.set("ok")], condition=Snapshot.vm_uuid.exists())
        tx.commit()
        log.warning("image %s was pending without a running task; %s undone", image.name,
                    operation)
    except records.Conflict:
        pass  # it changed meanwhile: the next run looks again
