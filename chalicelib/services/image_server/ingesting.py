"""The ingest step (SPEC §4.7, §4.13): an upload under the upload prefix (a node agent's
snapshot export, or a caller's file upload) is read once, from the task's checkpoint in as
many step runs as it takes, hashed on the way and moved into place as the image's file.

An upload's manifest announced its file (`files[0]`): a wrong size fails before anything is
read, a wrong digest once all of it is; an export announces nothing and its digest and size
become the manifest's.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import store
from chalicelib.config import settings
from chalicelib.domain import file_checks, task_texts
from chalicelib.domain.task_results import StepError
from chalicelib.domain.transfers import run_budget
from chalicelib.domain.vocabulary import UPLOAD
from chalicelib.persistence.models import Image, Task
from chalicelib.services.image_server import transfer_runs
from chalicelib.services.image_server.context import (
    TaskEnded,
    load,
    still_running,
    store_unavailable,
)


class _UploadSource:
    """The upload in the store, for transfer_runs (S3 reads ranges: always resumable)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def open(self, start: int, validator: str | None) -> store.ObjectDownload:
        return store.ObjectDownload(self.key, start, validator)

    def resumes(self, opened: object) -> bool:
        return True


def announced_file(task: Task, image: Image) -> dict[str, Any] | None:
    """What the manifest said of the file: `files[0]` of an upload, nothing for an export."""
    if task.operation != UPLOAD:
        return None
    files = (image.manifest or {}).get("files") or [{}]
    return dict(files[0])


def ingest_upload(event: dict[str, Any], remaining_seconds: float = 900.0) -> dict[str, Any]:
    """Move the upload into place, computing its SHA-1, SHA-256 and size on the way (checked
    against the manifest when it announced them)."""
    from botocore.exceptions import BotoCoreError, ClientError

    task, image = load(event)
    source = store.upload_key(task.task_id)
    expected = announced_file(task, image)
    target_key = store.file_key(image.uuid)
    try:
        size = store.object_size(source)
        if size is None:
            raise StepError(task_texts.RC_SOURCE, task_texts.EXPORT_NOT_UPLOADED
                            if expected is None else task_texts.UPLOAD_MISSING)
        if size > settings().file_max_bytes:
            raise StepError(task_texts.RC_SPACE, task_texts.NO_SPACE)
        wrong_size = file_checks.size_error(expected or {}, size)
        if wrong_size is not None:  # nothing to read: the answer is known
            raise wrong_size
        target = transfer_runs.Target(key=target_key, expected_size=size, max_bytes=size,
                                      step="ingest")
        budget = run_budget(settings().transfer_step_seconds, remaining_seconds)
        result = transfer_runs.run(task, _UploadSource(source), target, budget)
        if not result["done"]:
            return result
        wrong = file_checks.mismatch(expected or {}, result["size"], result["sha1"],
                                     result["sha256"])
        if wrong is not None:
            store.delete_keys([target_key])
            raise wrong
        still_running(task.task_id)
        store.delete_keys([source])
    except TaskEnded:
        store.delete_keys([target_key])
        raise
    except (BotoCoreError, ClientError) as exc:
        raise store_unavailable(exc) from exc
    if result["size"] == 0:
        raise StepError(task_texts.RC_IMAGE_FILE, task_texts.EXPORT_EMPTY)
    # The success message times the whole operation (the node's zfs send or the caller's
    # upload, then this ingest) from the task's start: the ingest alone is a small part of
    # it. `seconds` stays the ingest's own (the ingest's transfer-rate metric).
    whole_seconds = (datetime.now(UTC) - task.created).total_seconds()
    made = {"sha1": result["sha1"], "sha256": result["sha256"], "size": result["size"]}
    file = {**expected, **made} if expected is not None else {**made, "compression": "gzip"}
    return {"done": True, "file": file,
            "transfer": {"size": result["size"], "seconds": result["seconds"],
                         "runs": result["runs"], "export_seconds": round(whole_seconds, 3)}}
