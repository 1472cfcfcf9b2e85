"""The scheduled cleanup (SPEC §9). Every job is idempotent, logs what it did, can dry-run,
and computes its cut-off time on every run."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import settings
from chalicelib.domain.vocabulary import DONE

log = logging.getLogger("imageapi.cleanup")


@dataclass
class CleanupReport:
    dry_run: bool
    tasks_finished: list[str] = field(default_factory=list)
    images_repaired: list[str] = field(default_factory=list)
    uploads_aborted: list[str] = field(default_factory=list)
    checkpoints_removed: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    records_expired: int = 0
    tasks_past_deadline: int = 0   # running tasks found past their deadline (metric, alarm)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, Any], None]


def run(*, dry_run: bool = False, now: datetime | None = None,
        progress: Progress | None = None) -> CleanupReport:
    """Every job in turn; `progress(job, None)` before a job and `progress(job, result)`
    after it (for an operator watching `imagectl cleanup`)."""
    from chalicelib.services.maintenance import reconcile
    now = now or datetime.now(UTC)
    cfg = settings()
    cutoff = now - timedelta(seconds=cfg.cleanup_grace_seconds)
    report = CleanupReport(dry_run)
    jobs: list[tuple[str, Callable[[], Any]]] = [
        ("tasks_past_deadline", lambda: _past_deadline(now)),
        ("tasks_finished",
         lambda: reconcile.reconcile_tasks(dry_run=dry_run, now=now).finished),
        ("images_repaired", lambda: reconcile.repair_images(dry_run=dry_run).repaired_images),
        ("checkpoints_removed", lambda: _remove_checkpoints(dry_run)),
    ]
    if cfg.image_server_enabled:
        jobs += [("uploads_aborted", lambda: _abort_stale_uploads(cutoff, dry_run)),
                 ("orphans_deleted", lambda: _delete_orphans(cutoff, dry_run))]
    jobs.append(("records_expired", lambda: _expire(now, dry_run)))
    for name, job in jobs:
        if progress:
            progress(name, None)
        setattr(report, name, job())
        if progress:
            progress(name, getattr(report, name))
    log.info("cleanup%s: %s", " (dry run)" if dry_run else "", report.as_dict())
    return report


def _past_deadline(now: datetime) -> int:
    """Running tasks older than their deadline: the reconciler ends them now, but each is a
    workflow that did not end in time (the TasksPastDeadline metric, alarmed on)."""
    from chalicelib.persistence.models import Task
    return sum(1 for task in Task.pending_index.query("1")
               if task.deadline is not None and task.deadline < now)


def _abort_stale_uploads(cutoff: datetime, dry_run: bool) -> list[str]:
    """Incomplete multipart uploads past the grace period that no running task owns."""
    from chalicelib.adapters import store
    busy = _busy_prefixes()
    s3, bucket = store.s3(), store.bucket()
    aborted = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            key = upload["Key"]
            if upload["Initiated"] >= cutoff or any(key.startswith(p) for p in busy):
                continue
            aborted.append(key)
            if not dry_run:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    return aborted


def _remove_checkpoints(dry_run: bool) -> list[str]:
    """Transfer checkpoints of ended tasks: the upload each names is aborted, then the
    checkpoint removed. A task's ending removes its checkpoint in the same transaction, so
    these come only from records written otherwise (an earlier version, a hand edit)."""
    from chalicelib.services.image_server import transfer_runs
    from chalicelib.services.tasks import lifecycle
    removed = []
    for task in _ended_transfers():
        removed.append(task.task_id)
        if dry_run:
            continue
        if settings().image_server_enabled:
            transfer_runs.abandon(task.transfer)
        lifecycle.remove_ended_transfer(task.task_id)
    return removed


def _ended_transfers() -> Any:
    """The sparse ended-transfer index; a Scan only before the backfill has finished."""
    from chalicelib.persistence.catalogue_keys import ENDED_TRANSFER
    from chalicelib.persistence.models import Task
    from chalicelib.services.maintenance import catalogue_migration
    if catalogue_migration.backfilled():
        return Task.ended_transfer_index.query(ENDED_TRANSFER)
    return Task.scan(Task.transfer.exists() & (Task.state == DONE))


def _busy_prefixes() -> list[str]:
    """Store prefixes that running tasks are writing to."""
    from chalicelib.adapters import store
    from chalicelib.persistence.models import Task
    prefixes = []
    for task in Task.pending_index.query("1"):
        if task.image_uuid:
            prefixes.append(store.image_prefix(task.image_uuid))
        prefixes.append(store.upload_key(task.task_id))
    return prefixes


def _delete_orphans(cutoff: datetime, dry_run: bool) -> list[str]:
    """Store objects that belong to no image record (or no running task), past the grace."""
    from chalicelib.adapters import store
    from chalicelib.persistence.models import Image, Task
    known = {image.uuid for image in Image.scan(attributes_to_get=["name", "uuid"])}
    running = {task.task_id for task in Task.pending_index.query("1")}
    orphans = []
    pages = store.s3().get_paginator("list_objects_v2").paginate(Bucket=store.bucket())
    for page in pages:
        for obj in page.get("Contents", []):
            key, modified = obj["Key"], obj["LastModified"]
            if modified >= cutoff:
                continue
            if key.startswith("images/") and key.split("/")[1] in known:
                continue
            upload_prefix = settings().upload_prefix
            if key.startswith(upload_prefix) and key[len(upload_prefix):] in running:
                continue
            orphans.append(key)
    if orphans and not dry_run:
        for start in range(0, len(orphans), 1000):
            store.delete_keys(orphans[start:start + 1000])
    return orphans


def _expire(now: datetime, dry_run: bool) -> int:
    """DynamoDB's TTL deletes lazily (and the emulator never): finish the job here."""
    from chalicelib.persistence.models import Task, TaskLogEntry
    count = 0
    for model in (Task, TaskLogEntry):
        expired = list(model.scan(model.expires_at < now))
        count += len(expired)
        if expired and not dry_run:
            with model.batch_write() as batch:
                for item in expired:
                    batch.delete(item)
    return count
