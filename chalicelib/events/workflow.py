"""Cloud events about our own work: execution status changes and uploads into the store.

Their rules match AWS's sources, but anyone who may put events on the default bus can send
one that looks the same: the services act only on what AWS itself confirms (the execution's
own description, the object in the store); anything else is dropped and counted."""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent

from chalicelib.config import load
from chalicelib.domain.names import TASK_ENDED, TASK_EVENT_SOURCE
from chalicelib.domain.taskids import is_real
from chalicelib.domain.vocabulary import EXECUTION_ENDED
from chalicelib.events.dropped import drop

bp = Blueprint(__name__)
log = logging.getLogger("imageapi.events")

# Patterns are fixed when the app is packaged, so they are read from the environment at import.
_BUCKET = load().image_store_bucket
_UPLOAD_PREFIX = load().upload_prefix


@bp.on_cw_event({"source": ["aws.states"],
                 "detail-type": ["Step Functions Execution Status Change"],
                 "detail": {"status": list(EXECUTION_ENDED)}}, name="on_execution_status")
def on_execution_status(event: CloudWatchEvent) -> None:
    """The fast path for executions that died outside their own Catch. Idempotent."""
    from chalicelib.services.tasks import workflow_events
    detail = event.detail if isinstance(event.detail, dict) else {}
    with _task_context(detail.get("name"), event):
        try:
            workflow_events.execution_ended(detail)
        except workflow_events.UnconfirmedEvent as exc:
            drop(event, "execution status event", exc.reason, exc)


@bp.on_cw_event({"source": [TASK_EVENT_SOURCE], "detail-type": [TASK_ENDED]},
                name="on_task_ended")
def on_task_ended(event: CloudWatchEvent) -> None:
    """Send an ended task's callback (announced by the task's ending; at most once)."""
    from chalicelib.services.tasks import callbacks
    detail = event.detail if isinstance(event.detail, dict) else {}
    task_id = detail.get("task_id")
    if isinstance(task_id, str) and is_real(task_id):
        with _task_context(task_id, event):
            callbacks.deliver(task_id)


@bp.on_cw_event({"source": ["aws.s3"], "detail-type": ["Object Created"],
                 "detail": {"bucket": {"name": [_BUCKET or "unset"]},
                            "object": {"key": [{"prefix": _UPLOAD_PREFIX}]}}},
                name="on_upload_created")
def on_upload_created(event: CloudWatchEvent) -> None:
    """A compute node finished uploading a snapshot export: resume the waiting execution."""
    from chalicelib.services.tasks import workflow_events
    detail = event.detail if isinstance(event.detail, dict) else {}
    obj, bucket = detail.get("object"), detail.get("bucket")
    key = obj.get("key") if isinstance(obj, dict) else None
    if isinstance(key, str) and key.startswith(_UPLOAD_PREFIX):
        task_id = key[len(_UPLOAD_PREFIX):]
        with _task_context(task_id, event):
            try:
                workflow_events.upload_arrived(
                    task_id, bucket.get("name") if isinstance(bucket, dict) else None)
            except workflow_events.UnconfirmedEvent as exc:
                drop(event, "upload event", exc.reason, exc)


def _task_context(task_id: Any, event: CloudWatchEvent) -> AbstractContextManager[None]:
    from chalicelib.services.tasks.task_logging import task_context
    return task_context(task_id, getattr(event.context, "aws_request_id", None))
