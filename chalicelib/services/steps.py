"""What each state-machine step does. Steps are idempotent: a retried step redoes its work
(overwriting the same keys) or finds it done; none of them ends the task except `finish` and
`rollback`, which go through `jobs` and so end it exactly once.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import task_results as tr
from chalicelib.models import Image, Task
from chalicelib.services import jobs

log = logging.getLogger("imageapi.steps")


class TaskEnded(Exception):
    """The task was ended meanwhile (e.g. canceled): the step has nothing left to do."""


def _load(event: dict[str, Any]) -> tuple[Task, Image]:
    task = jobs.get(event["task_id"])
    if task is None or task.state != jobs.RUNNING:
        raise TaskEnded(event.get("task_id"))
    try:
        return task, Image.get(task.image_name)
    except Image.DoesNotExist:
        raise TaskEnded(event.get("task_id"))


def _throttled_progress(task_id: str, step: str, total: int | None):
    interval = settings().progress_interval_seconds
    last = [0.0]

    def report(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= interval:
            last[0] = now
            if not jobs.record_progress(task_id, step, done, total):
                raise TaskEnded(task_id)  # canceled meanwhile: stop, the upload is aborted

    return report


def _store_errors(exc: Exception) -> tr.StepError:
    """S3/DynamoDB trouble is worth a retry; the state machine decides how often."""
    return tr.TransientError(tr.RC_INPUT, f"ERROR: Image store is not available ({type(exc).__name__})")


def _check_file(expected: dict[str, Any], size: int, sha1: str) -> None:
    if expected.get("size") is not None and int(expected["size"]) != size:
        raise tr.StepError(tr.RC_IMAGE_FILE, tr.size_mismatch(int(expected["size"]), size))
    if expected.get("sha1") and expected["sha1"].lower() != sha1:
        raise tr.StepError(tr.RC_IMAGE_FILE, tr.checksum_mismatch(expected["sha1"].lower(), sha1))


# ---------------------------------------------------------------------------------------------
def import_file(event: dict[str, Any]) -> dict[str, Any]:
    """Stream file_url into the store, SHA-1 and size checked against files[0] of the manifest."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib import sources, store
    from chalicelib.services.manifests import source_policy
    from chalicelib.transfer import SOURCE_CHUNK_SIZE, TransferTooLarge, stream_to_store

    task, image = _load(event)
    expected = ((image.manifest or {}).get("files") or [{}])[0]
    expected_size = expected.get("size")
    cfg = settings()
    jobs.record_progress(task.task_id, "download", 0, expected_size)
    try:
        response = sources.open_stream(task.request["file_url"], policy=source_policy(),
                                       timeout=cfg.file_timeout_seconds)
    except sources.SourceNotAllowed as exc:
        raise tr.StepError(tr.RC_URL, tr.download_failed(exc.reason))
    except sources.SourceError as exc:
        raise _download_error(exc)
    try:
        result = stream_to_store(
            sources.iter_body(response, SOURCE_CHUNK_SIZE), s3=store.s3(), bucket=store.bucket(),
            key=store.file_key(image.uuid), part_size=cfg.transfer_part_bytes,
            max_bytes=min(int(expected_size), cfg.file_max_bytes) if expected_size
            else cfg.file_max_bytes,
            on_progress=_throttled_progress(task.task_id, "download", expected_size),
            progress_interval=0)
    except sources.SourceError as exc:
        raise _download_error(exc)
    except TransferTooLarge:
        raise tr.StepError(tr.RC_IMAGE_FILE,
                           f"ERROR: Image file is larger than announced ({expected_size} bytes)")
    except (BotoCoreError, ClientError) as exc:
        raise _store_errors(exc)
    finally:
        response.close()
    try:
        _check_file(expected, result.size, result.sha1)
        _still_running(task.task_id)
    except (tr.StepError, TaskEnded):
        store.delete_keys([store.file_key(image.uuid)])
        raise
    jobs.record_progress(task.task_id, "download", result.size, expected_size)
    return {"size": result.size, "sha1": result.sha1, "seconds": round(result.seconds, 3)}


def _still_running(task_id: str) -> None:
    """A rollback may have run while this step was busy; its leftovers must not survive."""
    task = jobs.get(task_id)
    if task is None or task.state != jobs.RUNNING:
        raise TaskEnded(task_id)


def _download_error(exc: Exception) -> tr.StepError:
    reason = getattr(exc, "reason", str(exc))
    status = _status_code(reason)
    if status is not None and status < 500 and status != 429:
        return tr.StepError(tr.RC_URL, tr.download_failed(reason))   # 404 stays 404
    return tr.TransientError(tr.RC_URL, tr.download_failed(reason))  # 5xx, resets, timeouts


def _status_code(reason: str) -> int | None:
    head = reason.split(" ", 1)[0]
    return int(head) if head.isdigit() and len(head) == 3 else None


def write_manifest(event: dict[str, Any]) -> dict[str, Any]:
    """Write the record's manifest into the store; an update needs the image to be there."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib import store

    task, image = _load(event)
    try:
        if task.operation == "update" and not store.has_object(store.manifest_key(image.uuid)):
            raise tr.StepError(tr.RC_IMAGE_DIR, "ERROR: Target image directory does not exist")
        manifest = dict(image.manifest or {})
        if event.get("file"):
            manifest["files"] = [event["file"]]
        store.put_manifest(image.uuid, manifest)
    except (BotoCoreError, ClientError) as exc:
        raise _store_errors(exc)
    return {"written": store.manifest_key(image.uuid)}


def delete_objects(event: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib import store

    task, image = _load(event)
    if not jobs.mark_irrevocable(task.task_id):
        raise TaskEnded(task.task_id)  # canceled first: nothing is deleted
    try:
        store.delete_image_objects(image.uuid)  # nothing there is fine: the work is done
    except (BotoCoreError, ClientError) as exc:
        raise _store_errors(exc)
    return {"deleted": image.uuid}


def request_export(event: dict[str, Any]) -> None:
    """Ask the compute node for the snapshot; the execution waits on the task token."""
    import json

    from chalicelib import aws, store

    task, image = _load(event)
    token = event["token"]
    jobs.record_token(task.task_id, token)
    jobs.record_progress(task.task_id, "export", 0, None)
    req = task.request or {}
    expires = settings().export_timeout_seconds + 300
    message = {
        "type": "snapshot-export", "task_id": task.task_id, "task_token": token,
        "vm_uuid": req.get("vm_uuid"), "zfs_filesystem": req.get("zfs_filesystem"),
        "snapshot": req.get("zfs_snapshot"), "compression": "gzip",
        "upload_url": store.presign_upload(task.task_id, expires), "upload_expires_in": expires,
        "heartbeat_seconds": settings().export_heartbeat_seconds,
    }
    aws.client("sqs").send_message(QueueUrl=settings().node_agent_queue_url,
                                   MessageBody=json.dumps(message))


def ingest_upload(event: dict[str, Any]) -> dict[str, Any]:
    """Move the uploaded export into place, computing its SHA-1 and size on the way."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib import store
    from chalicelib.transfer import object_chunks, stream_to_store

    task, image = _load(event)
    source = store.upload_key(task.task_id)
    jobs.record_progress(task.task_id, "ingest", 0, None)
    try:
        size = store.object_size(source)
        if size is None:
            raise tr.StepError(tr.RC_SOURCE, "ERROR: The exported snapshot was not uploaded")
        if size > settings().file_max_bytes:
            raise tr.StepError(tr.RC_SPACE, "ERROR: Not enough free space on image server")
        result = stream_to_store(
            object_chunks(store.s3(), store.bucket(), source), s3=store.s3(),
            bucket=store.bucket(), key=store.file_key(image.uuid),
            part_size=settings().transfer_part_bytes, max_bytes=size,
            on_progress=_throttled_progress(task.task_id, "ingest", None), progress_interval=0)
        store.delete_keys([source])
        _still_running(task.task_id)
    except TaskEnded:
        store.delete_keys([store.file_key(image.uuid)])
        raise
    except (BotoCoreError, ClientError) as exc:
        raise _store_errors(exc)
    if result.size == 0:
        raise tr.StepError(tr.RC_IMAGE_FILE, "ERROR: The exported snapshot is empty")
    return {"file": {"sha1": result.sha1, "size": result.size, "compression": "gzip"},
            "transfer": {"size": result.size, "seconds": round(result.seconds, 3)}}


def finish(event: dict[str, Any]) -> dict[str, Any]:
    outcome = {"transfer": event.get("transfer"), "file": event.get("file")}
    done = jobs.complete(event["task_id"], outcome)
    return {"completed": done}


def rollback(event: dict[str, Any]) -> dict[str, Any]:
    """The Catch of every state: end the task FAILURE with the step's esimg message."""
    error = event.get("error") or {}
    name = error.get("Error")
    task = jobs.get(event["task_id"])
    recorded = (task.failure or {}) if task else {}
    if name and (name.startswith("States.") or name == "ExportFailed") or not recorded:
        rc, message = tr.failure_from_execution(name, _cause_text(error.get("Cause")))
    else:
        rc, message = recorded["returncode"], recorded["message"]
    done = jobs.fail(event["task_id"], returncode=rc, message=message)
    return {"rolled_back": done}


def _cause_text(cause: Any) -> str | None:
    import json
    if not cause:
        return None
    try:
        data = json.loads(cause)
        return str(data.get("errorMessage") or data)
    except (ValueError, AttributeError):
        return str(cause)
