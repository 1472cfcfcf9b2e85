"""Routes of an upload's task (SPEC §4.13): part URLs, the parts stored, the completion."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, pending, plain, routes
from chalicelib.services.image_server import file_uploads

bp = Blueprint(__name__)


def part_urls(ctx: Ctx, task_id: str) -> Reply:
    return plain(file_uploads.part_urls(ctx.caller, task_id, ctx.body))


def stored_parts(ctx: Ctx, task_id: str) -> Reply:
    return plain(file_uploads.listing(ctx.caller, task_id))


def complete(ctx: Ctx, task_id: str) -> Reply:
    task = file_uploads.complete(ctx.caller, task_id)
    ctx.dc = task.dc
    return pending(task.task_id)


routes(bp, "/task/{task_id}/upload", {"GET": stored_parts, "POST": part_urls})
routes(bp, "/task/{task_id}/upload/complete", {"POST": complete})
