"""What ending an operation does to its image, guards, snapshot and store objects, driven by
the operation's rules (chalicelib.domain.operations): `commit` on success, `undo` and
`clean_store` on a rollback, and the test for an operation past its point of no return.
The workflow's Catch, the status event, the reconciler and a cancel all end tasks through
here, and the reconciler repairs orphaned pending images with the same `undo`."""
from __future__ import annotations

import logging
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import operations as ops
from chalicelib.domain import task_texts
from chalicelib.domain.manifest import file_digest
from chalicelib.domain.task_endings import completes_instead
from chalicelib.domain.vocabulary import SNAPSHOT_OK, ImageStatus
from chalicelib.persistence import records
from chalicelib.persistence.models import Image, Snapshot, Task

log = logging.getLogger("imageapi.tasks")
IMAGE_PENDING = int(ImageStatus.PENDING)  # not the task status PENDING


def commit(tx: records.Tx, task: Task, image: Image, outcome: dict[str, Any]) -> str:
    """Add the operation's success to `tx`; returns the task's success message."""
    rules = ops.rules(task.operation)
    if rules.commit == ops.REMOVE:
        records.add_delete(tx, image, require_status=IMAGE_PENDING, require_task=task.task_id)
        return task_texts.success(task.operation, image.name)
    changes: dict[str, Any] = {"status": int(ImageStatus.OK), "task_id": None, "backup": None,
                               "manifest_active": image.manifest,
                               "file_digest": file_digest(image.manifest)}
    if outcome.get("file"):  # the file the workflow stored (import, upload, export)
        manifest = dict(image.manifest or {}, files=[outcome["file"]])
        changes.update(manifest=manifest, manifest_active=manifest, src_vm=None, src_snap=None,
                       file_digest=file_digest(manifest))
    records.add_update(tx, image, changes, require_status=IMAGE_PENDING, require_task=task.task_id)
    if rules.holds_alias:
        _release_previous_alias(tx, image)
    if rules.uses_snapshot:
        release_snapshot(tx, task.request)
    transfer = outcome.get("transfer") or {}
    if transfer.get("reused"):
        return task_texts.success_reused(image.name, int(transfer["size"]))
    # an export is timed as a whole (zfs send, upload, ingest); an import by its transfer
    return task_texts.success(task.operation, image.name, transfer.get("size"),
                              transfer.get("export_seconds", transfer.get("seconds")))


def undo(tx: records.Tx, image: Image, operation: str, *, require_task: str | None,
         expected_rev: int | None = None) -> None:
    """Add the undoing of `operation` on the pending `image` to `tx`."""
    rules = ops.rules(operation)
    if rules.undo == ops.REMOVE:
        records.add_delete(tx, image, require_status=IMAGE_PENDING, require_task=require_task,
                           expected_rev=expected_rev)
        return
    changes: dict[str, Any] = {"status": int(ImageStatus.OK), "task_id": None, "backup": None}
    if rules.undo == ops.RESTORE:
        changes.update(image.backup or {})
        changes["manifest"] = image.manifest_active
    records.add_update(tx, image, changes, require_status=IMAGE_PENDING, require_task=require_task,
                       expected_rev=expected_rev,
                       alias_guards=records.RETURN if rules.holds_alias else records.MOVE)


def clean_store(operation: str, image: Image | None, image_uuid: str | None,
                task_id: str | None) -> None:
    """The store side of undoing `operation`; safe to repeat. `image` is the record the
    operation holds (None when it is gone or belongs to someone else now)."""
    if not settings().image_server_enabled:
        return
    from chalicelib.adapters import store
    cleaning = ops.rules(operation).clean_on_undo
    if ops.IMAGE_OBJECTS in cleaning and image_uuid:
        store.delete_image_objects(image_uuid)
    if ops.UPLOAD in cleaning and task_id:
        store.delete_upload(task_id)
    if ops.ACTIVE_MANIFEST in cleaning and image is not None and image.manifest_active:
        if store.has_object(store.manifest_key(image.uuid)):  # else: nothing to rewrite
            store.put_manifest(image.uuid, image.manifest_active)


def past_point_of_no_return(task: Task, revoked: bool) -> bool:
    """Whether the claimed task must be completed instead of undone (see completes_instead)."""
    if not task.irrevocable:
        return False
    return completes_instead(task.operation, True, revoked,
                             None if revoked else _objects_intact(task))


def _objects_intact(task: Task) -> bool | None:
    if not settings().image_server_enabled or not task.image_uuid:
        return True
    from chalicelib.adapters import store
    try:
        return store.has_image_objects(task.image_uuid)
    except Exception:
        log.warning("task %s: store not reachable", task.task_id)
        return None


def finish_irreversible_work(task: Task) -> None:
    """Before completing an operation past its point of no return: its store objects go. What
    a failing store leaves behind is an orphan, which the cleanup removes."""
    if not (settings().image_server_enabled and task.image_uuid):
        return
    from chalicelib.adapters import store
    try:
        store.delete_image_objects(task.image_uuid)
    except Exception:
        log.warning("task %s: store objects of %s left to the cleanup", task.task_id,
                    task.image_uuid)


def release_snapshot(tx: records.Tx, request: dict[str, Any] | None) -> None:
    """The source snapshot is back to ok whatever the outcome."""
    req = request or {}
    if req.get("vm_uuid") and req.get("snap_key"):
        release_snapshot_of(tx, req["vm_uuid"], req["snap_key"])


def release_snapshot_of(tx: records.Tx, vm_uuid: str, snap_key: str) -> None:
    tx.update("snapshot", Snapshot(vm_uuid, snap_key), [Snapshot.status.set(SNAPSHOT_OK)],
              condition=Snapshot.vm_uuid.exists())


def _release_previous_alias(tx: records.Tx, image: Image) -> None:
    """An update held its previous alias+version while it could roll back; now it is free."""
    backup = image.backup or {}
    alias, version = backup.get("alias", image.alias), backup.get("version", image.version)
    if records.alias_guard(alias, version) != records.alias_guard(image.alias, image.version):
        records.release_alias(tx, alias, version, image.name)
