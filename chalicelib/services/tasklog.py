"""The audit log (Danube's task log): who did what to which image, per DC."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib.config import settings
from chalicelib.domain.image_view import log_detail
from chalicelib.models import TaskLogEntry

IMPORT_IMAGE = "Import image"
CREATE_IMAGE = "Create image"
UPDATE_IMAGE = "Update image"
DELETE_IMAGE = "Delete image"
ADD_TO_DC = "Add server image to datacenter"
REMOVE_FROM_DC = "Remove server image from datacenter"


def entry(*, dc: str, task_id: str, status: str, username: str, owner: str | None,
          name: str, alias: str | None, msg: str, detail: dict[str, Any] | str,
          when: datetime | None = None, seq: int = 0) -> TaskLogEntry:
    now = when or datetime.now(timezone.utc)
    text = detail if isinstance(detail, str) else log_detail(detail)
    return TaskLogEntry(
        dc, f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}{seq}#{task_id}",
        time=now, task_id=task_id, status=status, username=username, owner=owner,
        object_name=name, object_alias=alias, msg=msg, detail=text,
        expires_at=now + timedelta(seconds=settings().task_retention_seconds))


def render(item: TaskLogEntry) -> dict[str, Any]:
    return {
        "time": item.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "task": item.task_id, "status": item.status, "user": item.username,
        "owner": item.owner, "object_type": item.object_type, "object_name": item.object_name,
        "object_alias": item.object_alias, "msg": item.msg, "detail": item.detail,
        "dc": item.dc,
    }
