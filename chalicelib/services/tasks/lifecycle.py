"""The start of an asynchronous image operation and what its steps record on the way: the task
record, its execution (named by the task id), progress, a step's failure, the task token."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors, http_texts, progress, task_texts
from chalicelib.domain.operations import rules
from chalicelib.domain.vocabulary import DONE, PENDING, RUNNING
from chalicelib.persistence import audit
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Image, Task, TaskLogEntry, get_or_none

log = logging.getLogger("imageapi.tasks")


def runs_on_image_server(operation: str) -> bool:
    """True when the operation runs as a workflow; 428 when an image server is configured but
    its workflow is not (False: a database-only service, as Danube without an image server)."""
    cfg = settings()
    if not cfg.image_server_enabled:
        return False
    if not cfg.state_machine_arns.get(operation):
        raise errors.PreconditionRequired(http_texts.IMAGE_SERVER_NOT_AVAILABLE)
    return True


def image_task_view(method: str, name: str, **extra: Any) -> dict[str, Any]:
    """The API view a task reports (GET /task/<id>): Danube's `image_manage` view."""
    return {"view": "image_manage", "method": method, "name": name, **extra}


def new_task(*, task_id: str, operation: str, image: Image, creator: str, dc: str,
             request: dict[str, Any], view: dict[str, Any],
             callback: dict[str, Any] | None = None, unbound: bool | None = None) -> Task:
    """`unbound`: the task concerns a DC-unbound image (by default: `image` is unbound)."""
    created = datetime.now(UTC)
    return Task(task_id, status=PENDING, state=RUNNING, operation=operation,
                image_name=image.name, image_uuid=image.uuid, image_alias=image.alias,
                creator=creator, owner=image.owner, dc=dc, request=request, view=view,
                callback=callback, unbound=(not image.dc_bound if unbound is None else unbound)
                or None, created=created,
                deadline=created + timedelta(seconds=settings().task_deadline_seconds),
                pending_user=creator, pending="1",
                progress=progress.queued())


def pending_log(task: Task, detail: dict[str, Any]) -> TaskLogEntry:
    return audit.entry(dc=task.dc, task_id=task.task_id, status=PENDING, username=task.creator,
                       owner=task.owner, name=task.image_name, alias=task.image_alias,
                       msg=rules(task.operation).log_text, detail=detail,
                       unbound=bool(task.unbound))


def start(task: Task, payload: dict[str, Any] | None = None) -> None:
    """Start the workflow of a task whose records are written; if that fails, the operation
    is rolled back before the request is answered."""
    from chalicelib.adapters import workflows
    from chalicelib.services.tasks import ending  # ending needs nothing from here
    try:
        workflows.start(task.operation, task.task_id, payload or {})
    except Exception as exc:
        log.exception("could not start %s for task %s", task.operation, task.task_id)
        ending.fail(task.task_id, task_texts.RC_INPUT, task_texts.not_started(type(exc).__name__))
        raise errors.ValidationFailed(http_texts.NOT_STARTED) from exc
    from chalicelib.adapters import metrics
    metrics.count("Tasks", operation=task.operation, outcome="started")


def get(task_id: str) -> Task | None:
    return get_or_none(Task, task_id)


def record_progress(task_id: str, step: str, done: int, total: int | None) -> bool:
    """False when the task is no longer running (the caller should stop)."""
    return _update_if_running(task_id, [Task.progress.set(progress.of_bytes(step, done, total))])


def record_export_progress(task_id: str, sent: int, export: dict[str, Any]) -> bool:
    """An agent's report: bytes sent, and the export record with its token's new expiry."""
    return _update_if_running(task_id, [
        Task.progress.set(progress.of_bytes("export", sent, None)),
        Task.export.set(export)])


def record_failure(task_id: str, returncode: int, message: str) -> None:
    """A step's own esimg error, for whoever ends the task (see failure_reason)."""
    _update_if_running(task_id, [Task.failure.set({"returncode": returncode,
                                                   "message": message})])


def record_token(task_id: str, token: str) -> bool:
    return _update_if_running(task_id, [Task.token.set(token)])


def save_transfer(task_id: str, state: dict[str, Any], progress: dict[str, Any]) -> bool:
    """A transfer's state between step runs, with its progress; False when the task ended."""
    return _update_if_running(task_id, [Task.transfer.set(state), Task.progress.set(progress)])


def save_export(task_id: str, export: dict[str, Any]) -> bool:
    """A snapshot export's node, upload and token hashes; False when the task ended."""
    return _update_if_running(task_id, [Task.export.set(export)])


def mark_irrevocable(task_id: str) -> bool:
    """The operation is about to do what cannot be undone (a delete removing store objects).
    False when the task is no longer running: then nothing irreversible may start."""
    return _update_if_running(task_id, [Task.irrevocable.set(True)])


def remove_ended_transfer(task_id: str) -> bool:
    """An ended task's leftover transfer state goes; False if the task is not ended."""
    return _update_if(task_id, DONE, [Task.transfer.remove(), Task.ended_transfer.remove()])


def _update_if_running(task_id: str, actions: list[Any]) -> bool:
    return _update_if(task_id, RUNNING, actions)


def _update_if(task_id: str, state: str, actions: list[Any]) -> bool:
    return conditional_update(Task(task_id), actions, Task.state == state)
