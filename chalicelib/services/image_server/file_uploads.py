"""What the caller of an upload may do while its workflow waits (SPEC §4.13): get presigned
URLs for parts of its multipart upload, see which parts the store holds, and complete it.
The same store protocol as a node agent's snapshot export (presigned UploadPart URLs,
ListParts, completion; `services.image_server.node_exports`), authorised by the caller's
API key: only the task's creator or a SuperAdmin drives an upload."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters import store
from chalicelib.config import settings
from chalicelib.domain import errors, uploads
from chalicelib.domain.image_view import iso
from chalicelib.domain.permissions import Principal
from chalicelib.domain.vocabulary import RUNNING, UPLOAD
from chalicelib.persistence.models import Task
from chalicelib.services.tasks import lifecycle
from chalicelib.services.tasks import views as task_views


def part_urls(principal: Principal, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A presigned PUT URL per part asked for: that part of this upload, for a short while."""
    task = _driven(principal, task_id)
    numbers = uploads.wanted_parts(body)
    checksums = uploads.part_checksums(body, numbers)
    seconds = settings().part_url_seconds
    upload_id = _upload_id(task)
    return {"parts": {str(number): store.presign_part(task.task_id, upload_id, number, seconds,
                                                      checksums.get(number))
                      for number in numbers},
            "expires": iso(datetime.now(UTC) + timedelta(seconds=seconds))}


def listing(principal: Principal, task_id: str) -> dict[str, Any]:
    """The parts the store holds (so an interrupted upload resumes where it stopped);
    `completed` once the upload is one object (the workflow is verifying it)."""
    task = _driven(principal, task_id)
    stored = _stored_parts(task)
    if stored is None:
        return {"parts": [], "bytes": store.object_size(store.upload_key(task.task_id)) or 0,
                "completed": True}
    return {**uploads.described(stored), "completed": False}


def complete(principal: Principal, task_id: str) -> Task:
    """Complete the upload when its parts make one file (400 naming what is wrong, the
    upload left open to mend); the store's Object Created event then resumes the workflow.
    Repeating a completion is fine."""
    task = _driven(principal, task_id)
    stored = _stored_parts(task)
    if stored is None:
        return task  # completed already
    problems = uploads.completion_errors(stored)
    if problems:
        raise errors.ValidationFailed({uploads.FIELD: problems})
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import error_code
    try:
        store.export_upload(task.task_id, _upload_id(task)).complete()
    except ClientError as exc:
        if error_code(exc) != "NoSuchUpload" or _stored_parts(task) is not None:
            raise
    size = sum(int(part["Size"]) for part in stored)
    lifecycle.record_progress(task.task_id, "upload", size, size)
    return task


def _driven(principal: Principal, task_id: str) -> Task:
    """The running upload task `principal` may drive: 404/403 as for reading the task, 403
    for a reader who is neither its creator nor a SuperAdmin, 410 once it has ended."""
    task = task_views.load(principal, task_id)
    if task.operation != UPLOAD:
        raise errors.NotFound()
    if not (principal.is_super_admin or principal.username == task.creator):
        raise errors.ObjectPermissionDenied()
    if task.state != RUNNING:
        raise errors.Gone()
    return task


def _upload_id(task: Task) -> str:
    return str((task.request or {})["upload_id"])


def _stored_parts(task: Task) -> list[dict[str, Any]] | None:
    """ListParts of the task's upload; None when the upload is completed (the object is
    there). An upload gone without its object means the task is ending: 410."""
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import error_code
    try:
        parts: list[dict[str, Any]] = store.export_upload(task.task_id,
                                                          _upload_id(task)).stored_parts()
        return parts
    except ClientError as exc:
        if error_code(exc) != "NoSuchUpload":
            raise
    if store.has_object(store.upload_key(task.task_id)):
        return None
    raise errors.Gone()
