"""Route of the image-from-snapshot operation (SPEC §4.7)."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, routes
from chalicelib.api.images import reply
from chalicelib.services.images import from_snapshot

bp = Blueprint(__name__)


def create_image(ctx: Ctx, vm: str, snapname: str, name: str) -> Reply:
    return reply(ctx, from_snapshot.create_from_snapshot(ctx.caller, vm, snapname, name,
                                                           ctx.body, ctx.params))


routes(bp, "/vm/{vm}/snapshot/{snapname}/image/{name}", {"POST": create_image})
