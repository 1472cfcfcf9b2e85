"""The life of an asynchronous image operation: task record, execution, and its single ending.

A task ends exactly once. Success is one transaction conditioned on `state == running`;
a rollback first claims the task (`running -> rolling_back`), cleans the image store
(idempotent), then ends it in one transaction conditioned on `state == rolling_back`. Whoever
comes first — the last step, the Catch, the status-change event, the reconciler or a cancel —
does the work; everyone after finds the task ended and does nothing.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.config import settings
from chalicelib.domain import task_results as tr
from chalicelib.domain.image_view import STATUS_OK, STATUS_PENDING
from chalicelib.models import Image, Snapshot, Task
from chalicelib.services import image_records as records
from chalicelib.services import tasklog

log = logging.getLogger("imageapi.jobs")

RUNNING, ROLLING_BACK, DONE = "running", "rolling_back", "done"
LOG_MESSAGES = {"import": tasklog.IMPORT_IMAGE, "snapshot": tasklog.CREATE_IMAGE,
                "update": tasklog.UPDATE_IMAGE, "delete": tasklog.DELETE_IMAGE}


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_task(*, task_id: str, operation: str, image: Any, creator: str, dc: str,
             request: dict[str, Any], view: dict[str, Any],
             callback: dict[str, Any] | None = None) -> Task:
    created = now()
    return Task(task_id, status=tr.PENDING, state=RUNNING, operation=operation,
                image_name=image.name, image_uuid=image.uuid, creator=creator,
                owner=image.owner, dc=dc, request=request, view=view, callback=callback,
                created=created, deadline=created + timedelta(seconds=deadline_seconds(operation)),
                pending_user=creator, pending="1",
                progress={"step": "queued", "bytes_done": 0, "bytes_total": None, "percent": 0})


def deadline_seconds(operation: str) -> int:
    return settings().task_deadline_seconds


def pending_log(task: Task, detail: dict[str, Any]) -> Any:
    return tasklog.entry(dc=task.dc, task_id=task.task_id, status=tr.PENDING,
                         username=task.creator, owner=task.owner, name=task.image_name,
                         alias=None, msg=LOG_MESSAGES[task.operation], detail=detail)


def start_execution(task: Task, payload: dict[str, Any]) -> None:
    """Start the workflow; if that fails the operation is rolled back before answering."""
    from chalicelib import workflows
    try:
        workflows.start(task.operation, task.task_id, payload)
    except Exception as exc:
        log.exception("could not start %s for task %s", task.operation, task.task_id)
        fail(task.task_id, returncode=tr.RC_INPUT,
             message=f"ERROR: Could not start the image operation ({type(exc).__name__})")
        raise


def get(task_id: str) -> Task | None:
    try:
        return Task.get(task_id)
    except DoesNotExist:
        return None


# ---------------------------------------------------------------------------------------------
# Progress and errors recorded by steps
# ---------------------------------------------------------------------------------------------
def record_progress(task_id: str, step: str, done: int, total: int | None) -> bool:
    """False when the task is no longer running (the caller should stop)."""
    percent = int(done * 100 / total) if total else None
    return _update_if_running(task_id, [Task.progress.set(
        {"step": step, "bytes_done": done, "bytes_total": total, "percent": percent})])


def record_failure(task_id: str, returncode: int, message: str) -> None:
    _update_if_running(task_id, [Task.failure.set({"returncode": returncode,
                                                   "message": message})])


def record_token(task_id: str, token: str) -> bool:
    return _update_if_running(task_id, [Task.token.set(token)])


def _update_if_running(task_id: str, actions: list) -> bool:
    try:
        Task(task_id).update(actions=actions, condition=Task.state == RUNNING)
        return True
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException":
            return False
        raise


def _finished_actions(status: str, result: dict[str, Any]) -> list:
    return [Task.status.set(status), Task.state.set(DONE), Task.result.set(result),
            Task.finished.set(now()), Task.pending.remove(), Task.pending_user.remove(),
            Task.token.remove(),
            Task.expires_at.set(now() + timedelta(seconds=settings().task_retention_seconds))]


def _final_log(task: Task, status: str, result: dict[str, Any]) -> Any:
    return tasklog.entry(dc=task.dc, task_id=task.task_id, status=status, username=task.creator,
                         owner=task.owner, name=task.image_name, alias=None,
                         msg=LOG_MESSAGES[task.operation], detail=result.get("message", ""),
                         seq=1)


# ---------------------------------------------------------------------------------------------
# Success
# ---------------------------------------------------------------------------------------------
def complete(task_id: str, outcome: dict[str, Any]) -> bool:
    """Commit the operation; False when the task had already ended (or is rolling back)."""
    task = get(task_id)
    if task is None or task.state != RUNNING:
        return False
    image = _image(task)
    tx = records.Tx()
    message = _commit_ops(tx, task, image, outcome)
    result = tr.success_result(message)
    tx.update("task", Task(task_id), _finished_actions(tr.SUCCESS, result),
              condition=Task.state == RUNNING)
    tx.put("log", _final_log(task, tr.SUCCESS, result))
    try:
        tx.commit()
    except records.Conflict as conflict:
        log.info("task %s not completed: %s", task_id, conflict)
        return False
    _after_finish(task, tr.SUCCESS, result)
    return True


def _commit_ops(tx: records.Tx, task: Task, image: Image | None, outcome: dict[str, Any]) -> str:
    operation = task.operation
    if image is None:
        raise RuntimeError(f"image {task.image_name} of task {task.task_id} is missing")
    if operation == "delete":
        records.add_delete(tx, image, require_status=STATUS_PENDING, require_task=task.task_id)
        return tr.success_message("delete", image.name)
    changes: dict[str, Any] = {"status": STATUS_OK, "task_id": None, "backup": None,
                               "manifest_active": image.manifest}
    if operation == "snapshot":
        manifest = dict(image.manifest or {})
        manifest["files"] = [outcome["file"]]
        changes.update(manifest=manifest, manifest_active=manifest, src_vm=None, src_snap=None)
        _release_snapshot(tx, task)
    records.add_update(tx, image, changes, require_status=STATUS_PENDING,
                       require_task=task.task_id)
    if operation == "update":
        _release_previous_alias(tx, image)
    transfer = outcome.get("transfer") or {}
    return tr.success_message(operation, image.name, transfer.get("size"),
                              transfer.get("seconds"))


# ---------------------------------------------------------------------------------------------
# Failure and cancellation
# ---------------------------------------------------------------------------------------------
def _release_previous_alias(tx: records.Tx, image: Image) -> None:
    """An update held its previous alias+version while it could roll back; now it is free."""
    backup = image.backup or {}
    alias, version = backup.get("alias", image.alias), backup.get("version", image.version)
    if records.alias_guard(alias, version) != records.alias_guard(image.alias, image.version):
        records.release_alias(tx, alias, version, image.name)


def mark_irrevocable(task_id: str) -> bool:
    """The operation is about to do what cannot be undone (a delete removing store objects).
    False when the task is no longer running: then nothing irreversible may start."""
    return _update_if_running(task_id, [Task.irrevocable.set(True)])


def _must_complete(task: Task, revoked: bool) -> bool:
    """An irrevocable operation that may have removed store objects is completed, not undone:
    always when it is revoked (its step may be deleting right now), and after a failure when
    the image's objects are no longer all there. A store that cannot be asked after a failure
    counts as untouched: the failing step could not have deleted anything through it."""
    if not task.irrevocable:
        return False
    if revoked or not settings().image_server_enabled or not task.image_uuid:
        return revoked
    from chalicelib import store
    try:
        return not store.has_image_objects(task.image_uuid)
    except Exception:
        log.warning("task %s: store not reachable; the delete is undone", task.task_id)
        return False


def fail(task_id: str, *, revoked: bool = False, returncode: int | None = None,
         message: str | None = None) -> bool:
    """Roll the operation back and end the task FAILURE (or REVOKED). Idempotent. An
    operation past its point of no return is completed instead (see `_must_complete`)."""
    task = _claim_rollback(task_id)
    if task is None:
        return False
    if _must_complete(task, revoked):
        return _roll_forward(task)
    if revoked:
        status, result = tr.REVOKED, tr.revoked_result()
    else:
        recorded = task.failure or {}
        rc = returncode if returncode is not None else recorded.get("returncode", tr.RC_INPUT)
        text = message or recorded.get("message") or "ERROR: Image operation failed"
        status, result = tr.FAILURE, tr.failure_result(rc, text)

    image = _image(task)
    ours = image if image is not None and image.task_id == task.task_id else None
    clean_store(task.operation, ours, task.image_uuid, task.task_id)
    tx = records.Tx()
    if ours is not None:
        undo(tx, ours, task.operation, require_task=task.task_id)
    if task.operation == "snapshot":
        _release_snapshot(tx, task)
    tx.update("task", Task(task_id), _finished_actions(status, result),
              condition=Task.state == ROLLING_BACK)
    tx.put("log", _final_log(task, status, result))
    try:
        tx.commit()
    except records.Conflict as conflict:
        log.info("task %s rollback not committed: %s", task_id, conflict)
        return False
    _after_finish(task, status, result)
    return True


def _claim_rollback(task_id: str) -> Task | None:
    try:
        Task(task_id).update(actions=[Task.state.set(ROLLING_BACK)],
                             condition=Task.state.is_in(RUNNING, ROLLING_BACK))
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException":
            return None
        raise
    return get(task_id)


def _roll_forward(task: Task) -> bool:
    """End a claimed task whose operation cannot be undone by completing it: the store objects
    go (what a failing store leaves becomes an orphan that the cleanup removes), then the
    record; the task ends SUCCESS."""
    from chalicelib import store
    image = _image(task)
    if task.image_uuid and settings().image_server_enabled:
        try:
            store.delete_image_objects(task.image_uuid)
        except Exception:
            log.warning("task %s: store objects of %s left to the cleanup", task.task_id,
                        task.image_uuid, exc_info=True)
    tx = records.Tx()
    if image is not None and image.task_id == task.task_id:
        records.add_delete(tx, image, require_status=STATUS_PENDING, require_task=task.task_id)
    result = tr.success_result(tr.success_message(task.operation, task.image_name))
    tx.update("task", Task(task.task_id), _finished_actions(tr.SUCCESS, result),
              condition=Task.state == ROLLING_BACK)
    tx.put("log", _final_log(task, tr.SUCCESS, result))
    try:
        tx.commit()
    except records.Conflict as conflict:
        log.info("task %s not completed: %s", task.task_id, conflict)
        return False
    _after_finish(task, tr.SUCCESS, result)
    return True


def clean_store(operation: str, image: Image | None, image_uuid: str | None,
                task_id: str | None) -> None:
    """Store side of undoing `operation`; safe to repeat. `image` is the record the operation
    holds (None when it is gone or belongs to someone else now)."""
    if not settings().image_server_enabled:
        return
    from chalicelib import store
    if operation in ("import", "snapshot") and image_uuid:
        store.delete_image_objects(image_uuid)
    if operation == "snapshot" and task_id:
        store.delete_upload(task_id)
    if operation == "update" and image is not None and image.manifest_active:
        if store.has_object(store.manifest_key(image.uuid)):
            store.put_manifest(image.uuid, image.manifest_active)


def undo(tx: records.Tx, image: Image, operation: str, *, require_task: str | None,
         expected_rev: int | None = None) -> None:
    """Record side of undoing `operation` on the pending `image`: a new image goes, an
    update gets every backed-up field (and its alias guard) back, a delete is called off."""
    if operation in ("import", "snapshot"):
        records.add_delete(tx, image, require_status=STATUS_PENDING, require_task=require_task,
                           expected_rev=expected_rev)
        return
    changes: dict[str, Any] = {"status": STATUS_OK, "task_id": None, "backup": None}
    if operation == "update":
        changes.update(image.backup or {})
        changes["manifest"] = image.manifest_active
    records.add_update(tx, image, changes, require_status=STATUS_PENDING,
                       require_task=require_task, expected_rev=expected_rev,
                       alias_guards=records.RETURN)


def _release_snapshot(tx: records.Tx, task: Task) -> None:
    """The source snapshot is back to ok whatever the outcome."""
    req = task.request or {}
    if req.get("vm_uuid") and req.get("snap_key"):
        tx.update("snapshot", Snapshot(req["vm_uuid"], req["snap_key"]),
                  [Snapshot.status.set("ok")], condition=Snapshot.vm_uuid.exists())


def _image(task: Task) -> Image | None:
    try:
        return Image.get(task.image_name)
    except DoesNotExist:
        return None


def _after_finish(task: Task, status: str, result: dict[str, Any]) -> None:
    if task.callback:
        from chalicelib.services import callbacks
        callbacks.deliver(task, status, result)
