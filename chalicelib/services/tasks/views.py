"""What clients see of tasks (SPEC §4.8): status, done, view, cancel, pending list, task log."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain import cursor, errors, field_texts, http_texts
from chalicelib.domain.fields import to_int
from chalicelib.domain.image_view import iso
from chalicelib.domain.limits import key_fits
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import is_dummy
from chalicelib.domain.vocabulary import DONE, HTTP_STATUS_OF_TASK, PENDING
from chalicelib.persistence import audit
from chalicelib.persistence.models import Datacenter, Task, TaskLogEntry, get_or_none
from chalicelib.services.tasks import ending
from chalicelib.services.tasks.lifecycle import get

LOG_PAGE = (1, 1000)
__all__ = ["Task", "cancel", "is_dc", "load", "log_dc", "log_page", "pending_ids", "status_body",
           "view"]


def load(principal: Principal, task_id: str) -> Task:
    """A task its reader may see (Principal.can_read_task). The dummy ids of synchronous
    answers name no task (and cost no lookup)."""
    task = None if is_dummy(task_id) else get(task_id)
    if task is None:
        raise errors.NotFound(http_texts.TASK_NOT_FOUND)
    if not principal.can_read_task(creator=task.creator, owner=task.owner, dc=task.dc,
                                   unbound=bool(task.unbound)):
        raise errors.PermissionDenied()
    return task


def status_body(task: Task) -> tuple[int, dict[str, Any]]:
    result = None if task.status == PENDING else task.result
    return HTTP_STATUS_OF_TASK[task.status], {"task_id": task.task_id, "status": task.status,
                                              "result": result}


def view(task: Task) -> dict[str, Any]:
    return {**(task.view or {}), "task_id": task.task_id, "status": task.status,
            "time": iso(task.created), "dc": task.dc, "progress": task.progress or {}}


def cancel(principal: Principal, task_id: str) -> Task:
    from chalicelib.adapters import workflows
    task = load(principal, task_id)
    if not principal.can_cancel_task(creator=task.creator, operation=task.operation,
                                     dc=task.dc, unbound=bool(task.unbound)):
        raise errors.PermissionDenied()
    if task.state == DONE:
        raise errors.TaskFinished()
    workflows.stop(workflows.execution_arn(task.operation, task.task_id),
                   "canceled by " + principal.username)
    ending.revoke(task.task_id)
    return get(task.task_id) or task


def pending_ids(principal: Principal) -> list[str]:
    return sorted(t.task_id for t in Task.pending_user_index.query(principal.username))


def log_dc(params: dict[str, str], default_dc: str) -> str:
    """The DC whose log is asked for (`?dc=`, else the default one)."""
    return params.get("dc") or default_dc


def is_dc(name: str) -> bool:
    """Whether `name` is a DC's (es_dc names a DC, never a caller's text)."""
    return get_or_none(Datacenter, name) is not None


def log_page(principal: Principal, params: dict[str, str], dc: str
             ) -> tuple[list[dict[str, Any]], str | None]:
    if not key_fits(dc):  # no DC has such a name (DynamoDB would refuse the key)
        raise errors.NotFound(http_texts.DC_NOT_FOUND)
    if not principal.is_dc_admin(dc):
        raise errors.PermissionDenied()
    limit, error = to_int(params.get("limit", 100))
    if error or not LOG_PAGE[0] <= limit <= LOG_PAGE[1]:
        raise errors.field_error("limit", field_texts.between(*LOG_PAGE))
    start = cursor.decode(params["cursor"], _log_key_of(dc)) if params.get("cursor") else None
    # entries about DC-unbound images are for SuperAdmins (a page may then hold fewer)
    hidden = None if principal.is_super_admin else TaskLogEntry.unbound.does_not_exist()
    query = TaskLogEntry.query(dc, scan_index_forward=False, limit=limit,
                               last_evaluated_key=start, page_size=limit,
                               filter_condition=hidden)
    items = [audit.render(item) for item in query]
    last = query.last_evaluated_key
    return items, cursor.encode(last) if last else None


def _log_key_of(dc: str) -> Callable[[Any], bool]:
    """A task-log page key: exactly DynamoDB's last evaluated key of this DC's partition."""
    def valid(key: Any) -> bool:
        return (isinstance(key, dict) and set(key) == {"dc", "sk"} and key["dc"] == {"S": dc}
                and isinstance(key["sk"], dict) and set(key["sk"]) == {"S"}
                and isinstance(key["sk"]["S"], str) and 0 < len(key["sk"]["S"]) <= 200)
    return valid
