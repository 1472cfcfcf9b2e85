"""What clients see of tasks (SPEC §4.8): status, done, view, cancel, pending list, task log."""
from __future__ import annotations

import base64
import json
from typing import Any

from chalicelib.domain import errors
from chalicelib.domain import task_results as tr
from chalicelib.domain.fields import to_int
from chalicelib.domain.image_view import iso
from chalicelib.domain.permissions import Principal
from chalicelib.models import Task, TaskLogEntry
from chalicelib.services import jobs, tasklog


def load(principal: Principal, task_id: str) -> Task:
    """Readable by its creator, the image owner, admins of its DC and SuperAdmins."""
    task = jobs.get(task_id)
    if task is None:
        raise errors.NotFound(errors.TASK_NOT_FOUND)
    if not (principal.is_super_admin or principal.username in (task.creator, task.owner)
            or principal.is_dc_admin(task.dc)):
        raise errors.PermissionDenied()
    return task


def status_body(task: Task) -> tuple[int, dict[str, Any]]:
    result = None if task.status == tr.PENDING else task.result
    return tr.HTTP_STATUS[task.status], {"task_id": task.task_id, "status": task.status,
                                        "result": result}


def view(task: Task) -> dict[str, Any]:
    return {**(task.view or {}), "task_id": task.task_id, "status": task.status,
            "time": iso(task.created), "dc": task.dc, "progress": task.progress or {}}


def cancel(principal: Principal, task_id: str) -> Task:
    from chalicelib import workflows
    task = load(principal, task_id)
    if task.state == jobs.DONE:
        raise errors.ApiError("Task has already finished", status=406)
    workflows.stop(workflows.execution_arn(task.operation, task.task_id), "canceled by "
                   + principal.username)
    jobs.fail(task.task_id, revoked=True)
    return jobs.get(task.task_id) or task


def pending_ids(principal: Principal) -> list[str]:
    return sorted(t.task_id for t in Task.pending_user_index.query(principal.username))


def log_page(principal: Principal, params: dict[str, str], default_dc: str
             ) -> tuple[list[dict[str, Any]], str | None]:
    dc = params.get("dc") or default_dc
    if not principal.is_dc_admin(dc):
        raise errors.PermissionDenied()
    limit, error = to_int(params.get("limit", 100))
    if error or not 1 <= limit <= 1000:
        raise errors.ValidationFailed({"limit": ["Ensure this value is between 1 and 1000."]})
    start = None
    if params.get("cursor"):
        try:
            start = json.loads(base64.urlsafe_b64decode(params["cursor"] + "=="))
            assert isinstance(start, dict) and start.get("dc") == {"S": dc}
        except Exception:
            raise errors.ValidationFailed({"cursor": ["Invalid value."]})
    query = TaskLogEntry.query(dc, scan_index_forward=False, limit=limit,
                               last_evaluated_key=start, page_size=limit)
    items = [tasklog.render(item) for item in query]
    last = query.last_evaluated_key
    cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode().rstrip("=") \
        if last else None
    return items, cursor
