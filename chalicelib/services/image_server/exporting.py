"""The snapshot export steps (SPEC §4.7, §5.3): ask the compute node for the snapshot, then
move its upload into place with SHA-1 and size computed on the way."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters import store
from chalicelib.config import settings
from chalicelib.domain import task_texts
from chalicelib.domain.task_results import StepError
from chalicelib.domain.transfers import run_budget
from chalicelib.services.image_server import transfer_runs
from chalicelib.services.image_server.context import (
    TaskEnded,
    load,
    still_running,
    store_unavailable,
)
from chalicelib.services.tasks import lifecycle


def request_export(event: dict[str, Any]) -> None:
    """Send the export request; the execution waits on the task token."""
    from chalicelib.adapters import aws

    task, image = load(event)
    token = event["token"]
    lifecycle.record_token(task.task_id, token)
    lifecycle.record_progress(task.task_id, "export", 0, None)
    req = task.request or {}
    cfg = settings()
    expires = cfg.export_timeout_seconds + 300
    message = {
        "type": "snapshot-export", "task_id": task.task_id, "task_token": token,
        "vm_uuid": req.get("vm_uuid"), "zfs_filesystem": req.get("zfs_filesystem"),
        "snapshot": req.get("zfs_snapshot"), "compression": "gzip",
        "upload_url": store.presign_upload(task.task_id, expires), "upload_expires_in": expires,
        "heartbeat_seconds": cfg.export_heartbeat_seconds,
    }
    aws.client("sqs").send_message(QueueUrl=cfg.node_agent_queue_url,
                                   MessageBody=json.dumps(message))


class _UploadSource:
    """The node's upload in the store, for transfer_runs (S3 reads ranges: always resumable)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def open(self, start: int, validator: str | None) -> store.ObjectDownload:
        return store.ObjectDownload(self.key, start, validator)

    def resumes(self, opened: object) -> bool:
        return True


def ingest_upload(event: dict[str, Any], remaining_seconds: float = 900.0) -> dict[str, Any]:
    """Move the uploaded export into place, computing its SHA-1 and size on the way; like an
    import's download, in as many runs as it takes."""
    from botocore.exceptions import BotoCoreError, ClientError

    task, image = load(event)
    source = store.upload_key(task.task_id)
    try:
        size = store.object_size(source)
        if size is None:
            raise StepError(task_texts.RC_SOURCE, task_texts.EXPORT_NOT_UPLOADED)
        if size > settings().file_max_bytes:
            raise StepError(task_texts.RC_SPACE, task_texts.NO_SPACE)
        target = transfer_runs.Target(key=store.file_key(image.uuid), expected_size=size,
                                      max_bytes=size, step="ingest")
        budget = run_budget(settings().transfer_step_seconds, remaining_seconds)
        result = transfer_runs.run(task, _UploadSource(source), target, budget)
        if not result["done"]:
            return result
        still_running(task.task_id)
        store.delete_keys([source])
    except TaskEnded:
        store.delete_keys([store.file_key(image.uuid)])
        raise
    except (BotoCoreError, ClientError) as exc:
        raise store_unavailable(exc) from exc
    if result["size"] == 0:
        raise StepError(task_texts.RC_IMAGE_FILE, task_texts.EXPORT_EMPTY)
    return {"done": True,
            "file": {"sha1": result["sha1"], "size": result["size"], "compression": "gzip"},
            "transfer": {"size": result["size"], "seconds": result["seconds"],
                         "runs": result["runs"]}}
