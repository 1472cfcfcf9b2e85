"""Routes of /dc (the console's DC pages; Danube Cloud's /dc): views only translate between
HTTP and `services.identity.dc_admin`."""
from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, routes, success
from chalicelib.domain.fields import parse_bool_param
from chalicelib.domain.taskids import dummy_task_id
from chalicelib.services.identity import dc_admin

bp = Blueprint(__name__)


def _answer(ctx: Ctx, result: Any, dc: str = "", status: int = 200) -> Reply:
    """Danube Cloud's SuccessTaskResponse (201 for a created key, as its POSTs answer)."""
    ctx.dc = dc
    return success(ctx, result, dummy_task_id(ctx.caller.username), status)


def list_dcs(ctx: Ctx) -> Reply:
    full = parse_bool_param(ctx.params.get("full", False))
    return _answer(ctx, dc_admin.list_dcs(ctx.caller, full))


def get_dc(ctx: Ctx, dc: str) -> Reply:
    return _answer(ctx, dc_admin.get_dc(ctx.caller, dc), dc)


def change_dc(ctx: Ctx, dc: str) -> Reply:
    return _answer(ctx, dc_admin.change_dc(ctx.caller, dc, ctx.body), dc)


def add_key(ctx: Ctx, dc: str) -> Reply:
    return _answer(ctx, dc_admin.add_key(ctx.caller, dc, ctx.body), dc, 201)


def remove_key(ctx: Ctx, dc: str, key_id: str) -> Reply:
    return _answer(ctx, dc_admin.remove_key(ctx.caller, dc, key_id), dc)


routes(bp, "/dc", {"GET": list_dcs})
routes(bp, "/dc/{dc}", {"GET": get_dc, "PUT": change_dc})
routes(bp, "/dc/{dc}/key", {"POST": add_key})
routes(bp, "/dc/{dc}/key/{key_id}", {"DELETE": remove_key})
