"""The audit log (Danube's task log): who did what to which image, per DC. An entry is written
in the same transaction as the change it describes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import task_texts
from chalicelib.domain.image_view import iso, log_detail
from chalicelib.domain.vocabulary import SUCCESS
from chalicelib.persistence.models import Image, TaskLogEntry


def entry(*, dc: str, task_id: str, status: str, username: str, owner: str | None,
          name: str, alias: str | None, msg: str, detail: dict[str, Any] | str,
          unbound: bool, when: datetime | None = None, seq: int = 0) -> TaskLogEntry:
    """`unbound`: the entry is about a DC-unbound image (only SuperAdmins read it)."""
    now = when or datetime.now(UTC)
    text = detail if isinstance(detail, str) else log_detail(detail)
    return TaskLogEntry(
        dc, f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}{seq}#{task_id}",
        time=now, task_id=task_id, status=status, username=username, owner=owner,
        object_name=name, object_alias=alias, msg=msg, detail=text, unbound=unbound or None,
        expires_at=now + timedelta(seconds=settings().task_retention_seconds))


def attach_entry(image: Image, username: str, task_id: str) -> TaskLogEntry | None:
    """A DC-bound image is attached to its DC when it is created, logged like Danube's attach."""
    if not image.dc_bound:
        return None
    return entry(dc=image.dc_bound, task_id=task_id, status=SUCCESS, username=username,
                 owner=image.owner, name=image.name, alias=image.alias,
                 msg=task_texts.LOG_ATTACH, detail={"dc": image.dc_bound}, unbound=False,
                 seq=2)


def render(item: TaskLogEntry) -> dict[str, Any]:
    return {
        "time": iso(item.time),
        "task": item.task_id, "status": item.status, "user": item.username,
        "owner": item.owner, "object_type": item.object_type, "object_name": item.object_name,
        "object_alias": item.object_alias, "msg": item.msg, "detail": item.detail,
        "dc": item.dc,
    }
