"""The snapshot export step (SPEC §4.7, §5.3): ask the compute node for the snapshot (its
upload is then moved into place by `ingesting`)."""
from __future__ import annotations

import time
from typing import Any

from chalicelib.adapters import store
from chalicelib.config import settings
from chalicelib.domain import exports, task_texts
from chalicelib.domain.task_results import StepError
from chalicelib.services.image_server.context import TaskEnded, load
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
