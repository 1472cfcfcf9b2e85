"""What the operator CLI shows of images and tasks, and its task cancel: read straight from
the tables, with everything visible (the operator acts as a SuperAdmin). The API's own rules
are reused: a task is read and cancelled through `services.tasks.views` with a SuperAdmin
principal, and `--limit` has the bounds of the API's task-log `limit`."""
from __future__ import annotations

import functools
import itertools
import operator
import time
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib.domain import errors, field_texts
from chalicelib.domain.fields import to_int
from chalicelib.domain.image_view import iso
from chalicelib.domain.permissions import Principal
from chalicelib.domain.vocabulary import DONE, PENDING, ImageStatus
from chalicelib.persistence.catalogue_keys import TASK
from chalicelib.persistence.models import Datacenter, Image, Task, get_or_none
from chalicelib.services.tasks import views

# Who the operator is to the task services (and in "canceled by ..." of a stopped workflow)
OPERATOR = Principal("imagectl", is_super_admin=True)
IMAGE_STATUSES = {"ok": ImageStatus.OK, "pending": ImageStatus.PENDING}
TASK_LIMIT = views.LOG_PAGE  # the bounds of GET /task/log's `limit`
DEFAULT_TASK_LIMIT = 50


class BadFilter(ValueError):
    """A filter that no record can match (an unknown status, a limit out of bounds)."""


class NoSuchRecord(LookupError):
    """The datacenter or task an operator named is not stored (not the API's 404 error)."""


class Refused(Exception):
    """Nothing to do: the task has already ended."""


def _existing_dc(name: str | None) -> str | None:
    if name is not None and get_or_none(Datacenter, name) is None:
        raise NoSuchRecord(f"datacenter {name!r} does not exist")
    return name


def image_row(image: Image) -> dict[str, Any]:
    status = ImageStatus(int(image.status))
    return {"name": image.name, "uuid": image.uuid, "dc_bound": image.dc_bound,
            "dcs": list(image.dcs or []), "status": status.name.lower(),
            "owner": image.owner, "size": int(image.size), "task_id": image.task_id}


def list_images(*, dc: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Every image (internal ones too), by name; `dc`: bound to or attached to that DC."""
    if status is not None and status not in IMAGE_STATUSES:
        raise BadFilter(f"invalid status {status!r}: one of {', '.join(IMAGE_STATUSES)}")
    _existing_dc(dc)
    condition = None
    if status is not None:
        condition = Image.status == int(IMAGE_STATUSES[status])
    rows = [image_row(image) for image in Image.scan(condition)]
    if dc is not None:
        rows = [row for row in rows if row["dc_bound"] == dc or dc in row["dcs"]]
    return sorted(rows, key=lambda row: row["name"])


def task_limit(raw: Any) -> int:
    value, error = to_int(raw)
    if error or not TASK_LIMIT[0] <= value <= TASK_LIMIT[1]:
        raise BadFilter(f"invalid limit {raw!r}: {field_texts.between(*TASK_LIMIT)}")
    return int(value)


def task_row(task: Task) -> dict[str, Any]:
    return {"task_id": task.task_id, "operation": task.operation, "status": task.status,
            "state": task.state, "dc": task.dc, "image": task.image_name,
            "image_uuid": task.image_uuid, "creator": task.creator, "owner": task.owner,
            "created": iso(task.created), "finished": iso(task.finished),
            "progress": task.progress or {}}


def task_detail(task: Task) -> dict[str, Any]:
    """A task's row with its result (once it ended), its step's recorded failure, its
    deadline and the view the API shows at GET /task/<id>."""
    return {**task_row(task), "deadline": iso(task.deadline),
            "result": None if task.status == PENDING else task.result,
            "failure": task.failure, "view": views.view(task)}


def list_tasks(*, running: bool = False, dc: str | None = None, user: str | None = None,
               limit: Any = DEFAULT_TASK_LIMIT) -> list[dict[str, Any]]:
    """The newest `limit` tasks (all DCs, or one; all users, or those `user` created: a
    removed user's tasks too); `running`: only those not ended."""
    count = task_limit(limit)
    _existing_dc(dc)
    from chalicelib.services.maintenance import catalogue_migration
    if not catalogue_migration.backfilled():  # tasks from before the indexes lack their keys
        return [task_row(task) for task in _scanned_tasks(running, dc, user)[:count]]
    # newest first: one index read backwards, page by page until `count` are found; with
    # both --user and --dc the user's index (a user's tasks are the fewer), filtered by DC
    condition = _filters(running, None if user is None else dc)
    if user is not None:
        tasks = Task.creator_index.query(user, filter_condition=condition,
                                         scan_index_forward=False, page_size=count)
    elif dc is not None:
        tasks = Task.dc_index.query(dc, filter_condition=condition, scan_index_forward=False,
                                    page_size=count)
    else:
        tasks = Task.newest_index.query(TASK, filter_condition=condition,
                                        scan_index_forward=False, page_size=count)
    return [task_row(task) for task in itertools.islice(tasks, count)]


def _filters(running: bool, dc: str | None, user: str | None = None) -> Any:
    conditions = [*([Task.state != DONE] if running else []),
                  *([Task.dc == dc] if dc is not None else []),
                  *([Task.creator == user] if user is not None else [])]
    return None if not conditions else functools.reduce(operator.and_, conditions)


def _scanned_tasks(running: bool, dc: str | None, user: str | None) -> list[Task]:
    condition = _filters(running, dc, user)
    return sorted(Task.scan(condition), key=lambda task: (task.created, task.task_id),
                  reverse=True)


def _task(task_id: str) -> Task:
    try:
        return views.load(OPERATOR, task_id)
    except errors.NotFound:
        raise NoSuchRecord(f"task {task_id!r} does not exist (anymore)") from None


def show_task(task_id: str) -> dict[str, Any]:
    return task_detail(_task(task_id))


def follow_task(task_id: str, *, interval: float = 2.0,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[dict[str, Any]]:
    """The task's detail now, then again each time its status, state or progress changed,
    polled every `interval` seconds until it has ended (the last one yielded)."""
    last = None
    while True:
        detail = show_task(task_id)
        seen = (detail["status"], detail["state"], detail["progress"])
        if seen != last:
            yield detail
            last = seen
        if detail["state"] == DONE:
            return
        sleep(interval)


def cancel_task(task_id: str) -> dict[str, Any]:
    """As a SuperAdmin's PUT /task/<id>/cancel: the workflow is stopped and the operation
    rolled back (or completed when past its point of no return)."""
    _task(task_id)
    try:
        task = views.cancel(OPERATOR, task_id)
    except errors.TaskFinished:
        raise Refused(f"task {task_id!r} has already ended; nothing to cancel") from None
    return task_detail(task)
