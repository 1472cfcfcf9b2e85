"""Routes of /image (SPEC §4.1–4.6). Views only translate between HTTP and the services."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, pending, routes, success
from chalicelib.domain.taskids import dummy_task_id
from chalicelib.services.images import changes, importing, queries
from chalicelib.services.images.outcome import Outcome

bp = Blueprint(__name__)


def reply(ctx: Ctx, outcome: Outcome) -> Reply:
    ctx.dc = outcome.dc
    if outcome.pending:
        return pending(outcome.task_id)
    task_id = outcome.task_id or dummy_task_id(ctx.caller.username)
    return success(ctx, outcome.result, task_id, outcome.status, outcome.headers)


def list_images(ctx: Ctx) -> Reply:
    return reply(ctx, queries.list_images(ctx.caller, ctx.params))


def get_image(ctx: Ctx, name: str) -> Reply:
    return reply(ctx, queries.get_image(ctx.caller, name, ctx.params))


def import_image(ctx: Ctx, name: str) -> Reply:
    return reply(ctx, importing.import_image(ctx.caller, name, ctx.body, ctx.params))


def update_image(ctx: Ctx, name: str) -> Reply:
    return reply(ctx, changes.update_image(ctx.caller, name, ctx.body, ctx.params,
                                           ctx.header("If-Match")))


def delete_image(ctx: Ctx, name: str) -> Reply:
    return reply(ctx, changes.delete_image(ctx.caller, name, ctx.body, ctx.params,
                                           ctx.header("If-Match")))


def image_vms(ctx: Ctx, name: str) -> Reply:
    return reply(ctx, queries.image_vms(ctx.caller, name, ctx.params))


routes(bp, "/image", {"GET": list_images})
routes(bp, "/image/{name}", {"GET": get_image, "POST": import_image, "PUT": update_image,
                             "DELETE": delete_image})
routes(bp, "/image/{name}/vm", {"GET": image_vms})
