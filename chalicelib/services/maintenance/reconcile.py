"""Bringing tasks and images to an end when their workflow could not (SPEC §5.5, §9.1–9.2)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import operations as ops
from chalicelib.domain import task_endings as endings
from chalicelib.domain.vocabulary import DELETE, DONE, IMPORT, UPDATE, ImageStatus
from chalicelib.persistence import records
from chalicelib.persistence.models import Image, Task
from chalicelib.services.tasks import effects
from chalicelib.services.tasks.lifecycle import get
from chalicelib.services.tasks.workflow_events import carry_out

log = logging.getLogger("imageapi.reconcile")


@dataclass
class Report:
    dry_run: bool
    finished: list[str] = field(default_factory=list)
    repaired_images: list[str] = field(default_factory=list)


def reconcile_tasks(*, dry_run: bool = False, now: datetime | None = None) -> Report:
    """Pending tasks whose execution ended, never started, or ran past the deadline."""
    from chalicelib.adapters import workflows
    now = now or datetime.now(UTC)
    report = Report(dry_run)
    for task in Task.pending_index.query("1"):
        arn = workflows.execution_arn(task.operation, task.task_id)
        ending = endings.for_reconciler(created=task.created, deadline=task.deadline, now=now,
                                        execution=workflows.describe(arn),
                                        recorded=task.failure)
        if ending is None:
            continue
        report.finished.append(task.task_id)
        if dry_run:
            continue
        if ending.stop_execution:
            workflows.stop(arn, "deadline passed")
        carry_out(task.task_id, ending)
    return report


def _pending_images() -> Any:
    """The sparse pending-image index; a Scan only before the backfill has finished."""
    from chalicelib.persistence import catalogue_keys
    from chalicelib.services.maintenance import catalogue_migration
    if catalogue_migration.backfilled():
        return Image.pending_index.query(catalogue_keys.PENDING)
    return Image.scan(Image.status == int(ImageStatus.PENDING))


def repair_images(*, dry_run: bool = False) -> Report:
    """Images left pending with no task that is still running are put back to a sane state."""
    report = Report(dry_run)
    for image in _pending_images():
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
