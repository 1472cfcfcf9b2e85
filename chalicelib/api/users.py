"""Routes of /accounts/user (the console's user pages; Danube Cloud's /accounts/user): views
only translate between HTTP and `services.identity.user_admin`."""
from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, routes, success
from chalicelib.domain.fields import parse_bool_param
from chalicelib.domain.taskids import dummy_task_id
from chalicelib.services.identity import user_admin

bp = Blueprint(__name__)


def _answer(ctx: Ctx, result: Any) -> Reply:
    return success(ctx, result, dummy_task_id(ctx.caller.username))


def list_users(ctx: Ctx) -> Reply:
    full = parse_bool_param(ctx.params.get("full", False))
    return _answer(ctx, user_admin.list_users(ctx.caller, full))


def get_user(ctx: Ctx, username: str) -> Reply:
    return _answer(ctx, user_admin.get_user(ctx.caller, username))


def change_user(ctx: Ctx, username: str) -> Reply:
    return _answer(ctx, user_admin.change_user(ctx.caller, username, ctx.body))


routes(bp, "/accounts/user", {"GET": list_users})
routes(bp, "/accounts/user/{username}", {"GET": get_user, "PUT": change_user})
