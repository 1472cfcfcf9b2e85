"""The snapshot export steps (SPEC §4.7, §5.3): ask the compute node for the snapshot, then
move its upload into place with SHA-1 and size computed on the way."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import store
from chalicelib.config import settings
from chalicelib.domain import exports, task_texts
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
    """Open the export's upload and ask the VM's compute node for the snapshot; the execution
    waits on its task token until the upload is complete (or the agent reports a failure, or
    a timeout ends the wait). A retried step reuses the upload and adds a token."""
    from chalicelib.adapters import node_queues

    task, _ = load(event)
    request = task.request or {}
    node = request.get("node")
    if not node:
        raise StepError(task_texts.RC_SOURCE, task_texts.NODE_UNKNOWN)
    cfg = settings()
    token, digest = exports.new_token()
    saved = dict(task.export or {})
    expires_at = exports.token_expiry(time.time(), cfg.export_heartbeat_seconds)
    export = {"node": node, "upload_id": saved.get("upload_id") or store.start_upload(task.task_id),
              "tokens": [*saved.get("tokens", []), digest][-5:], "expires_at": expires_at}
    if not (lifecycle.save_export(task.task_id, export)
            and lifecycle.record_token(task.task_id, event["token"])):
        raise TaskEnded(task.task_id)
    lifecycle.record_progress(task.task_id, "export", 0, None)
    node_queues.send(node, exports.request_message(
        task_id=task.task_id, node=node, request=request, token=token, expires_at=expires_at,
        heartbeat=exports.heartbeat_seconds(cfg.export_heartbeat_seconds)))


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
    # The success message times the whole export (the node's zfs send and upload, then this
    # ingest) from the task's start: the ingest alone is a small part of it. `seconds` stays
    # the ingest's own (the ingest's transfer-rate metric).
    export_seconds = (datetime.now(UTC) - task.created).total_seconds()
    return {"done": True,
            "file": {"sha1": result["sha1"], "size": result["size"], "compression": "gzip"},
            "transfer": {"size": result["size"], "seconds": result["seconds"],
                         "runs": result["runs"], "export_seconds": round(export_seconds, 3)}}
