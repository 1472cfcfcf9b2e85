"""The routes a compute node's agent calls for the export it was sent (README "Snapshot
export"); plain JSON, authenticated by the export token of the task (ES-EXPORT-TOKEN) and the
node token (ES-NODE-TOKEN), not by an API key."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, routes
from chalicelib.services.image_server import node_exports

bp = Blueprint(__name__)

Action = Callable[[str, tuple[str | None, str | None], dict[str, Any]], dict[str, Any]]


def _view(action: Action) -> Callable[..., Reply]:
    def view(ctx: Ctx, task_id: str) -> Reply:
        credentials = (ctx.header("ES-EXPORT-TOKEN"), ctx.header("ES-NODE-TOKEN"))
        return Reply(200, action(task_id, credentials, ctx.body))
    return view


routes(bp, "/exports/{task_id}/parts", {"POST": _view(node_exports.part_urls)},
       authenticated=False)
routes(bp, "/exports/{task_id}/progress", {"POST": _view(node_exports.progress)},
       authenticated=False)
routes(bp, "/exports/{task_id}/complete", {"POST": _view(node_exports.complete)},
       authenticated=False)
routes(bp, "/exports/{task_id}/failure", {"POST": _view(node_exports.fail)},
       authenticated=False)
