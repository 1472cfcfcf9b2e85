"""The upload's wait (SPEC §4.13): the execution keeps its task token on the task and waits
until the caller completes the multipart upload (the store's Object Created event sends the
token back, as for a snapshot export) or the upload deadline ends the wait."""
from __future__ import annotations

from typing import Any

from chalicelib.adapters import store, workflows
from chalicelib.services.image_server.context import TaskEnded, load
from chalicelib.services.tasks import lifecycle


def await_upload(event: dict[str, Any]) -> dict[str, Any]:
    """Record the token; an upload completed before that (its event found no token to send
    back) resumes the execution here. A retried step records its new token the same way."""
    task, image = load(event)
    if not lifecycle.record_token(task.task_id, event["token"]):
        raise TaskEnded(task.task_id)
    files = (image.manifest or {}).get("files") or [{}]
    lifecycle.record_progress(task.task_id, "upload", 0, files[0].get("size"))
    key = store.upload_key(task.task_id)
    size = store.object_size(key)  # read after the token is kept: one of the two sends it
    if size is not None:
        workflows.send_task_success(event["token"], {"key": key, "size": size})
    return {"waiting": size is None}
