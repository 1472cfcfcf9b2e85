"""Routes of /task (SPEC §4.8)."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, plain, routes, success
from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain.taskids import dummy_task_id
from chalicelib.domain.vocabulary import HTTP_STATUS_OF_TASK, SUCCESS
from chalicelib.services.tasks import views as task_views

bp = Blueprint(__name__)


# Danube Cloud's TaskStatusResponse marks every answer of /status and /cancel (its 404
# included): esdc-api raises TaskFailure / TaskRevoked, not ClientError, only with it.
TASK_RESPONSE = {"es_task_response": "true"}


def _task_reply(ctx: Ctx, task: task_views.Task) -> Reply:
    ctx.dc = task.dc
    status, body = task_views.status_body(task)
    return Reply(status, body, {"es_task_id": task.task_id, **TASK_RESPONSE})


def pending_list(ctx: Ctx) -> Reply:
    return success(ctx, task_views.pending_ids(ctx.caller),
                   dummy_task_id(ctx.caller.username))


def task_log(ctx: Ctx) -> Reply:
    dc = task_views.log_dc(ctx.params, settings().default_dc)
    items, cursor = task_views.log_page(ctx.caller, ctx.params, dc)
    if task_views.is_dc(dc):
        ctx.dc = dc  # es_dc names the DC whose log this is
    headers = {"es_next": cursor} if cursor else {}
    return success(ctx, items, dummy_task_id(ctx.caller.username), headers=headers)


def task_detail(ctx: Ctx, task_id: str) -> Reply:
    task = task_views.load(ctx.caller, task_id)
    ctx.dc = task.dc
    return success(ctx, task_views.view(task), task.task_id)


def task_status(ctx: Ctx, task_id: str) -> Reply:
    try:
        task = task_views.load(ctx.caller, task_id)
    except errors.NotFound as exc:
        return Reply(exc.status, {"detail": exc.detail}, dict(TASK_RESPONSE))
    return _task_reply(ctx, task)


def task_done(ctx: Ctx, task_id: str) -> Reply:
    task = task_views.load(ctx.caller, task_id)
    ctx.dc = task.dc
    # as Danube Cloud's TaskDoneResponse: `done` is "ended successfully", the HTTP status
    # follows the task's status like /status does
    return plain({"task_id": task.task_id, "done": task.status == SUCCESS},
                 HTTP_STATUS_OF_TASK[task.status])


def task_cancel(ctx: Ctx, task_id: str) -> Reply:
    return _task_reply(ctx, task_views.cancel(ctx.caller, task_id))


routes(bp, "/task", {"GET": pending_list})
routes(bp, "/task/log", {"GET": task_log})
routes(bp, "/task/{task_id}", {"GET": task_detail})
routes(bp, "/task/{task_id}/status", {"GET": task_status})
routes(bp, "/task/{task_id}/state", {"GET": task_status})
routes(bp, "/task/{task_id}/done", {"GET": task_done})
routes(bp, "/task/{task_id}/cancel", {"PUT": task_cancel})
