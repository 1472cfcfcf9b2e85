"""GET /ping: liveness, no authentication (Danube Cloud answers `pong` to anyone)."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, routes, success
from chalicelib.domain.taskids import dummy_task_id

bp = Blueprint(__name__)


def ping(ctx: Ctx) -> Reply:
    return success(ctx, "pong", dummy_task_id(""))


routes(bp, "/ping", {"GET": ping}, authenticated=False)
