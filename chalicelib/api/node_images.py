"""IMGAPI-compatible read endpoints for compute nodes (SPEC §4.10); plain JSON, no envelope."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Ctx, Reply, routes
from chalicelib.services.images import node_source

bp = Blueprint(__name__)


def list_images(ctx: Ctx) -> Reply:
    who = node_source.authenticate(ctx)
    return Reply(200, node_source.list_manifests(who, ctx.params))


def get_image(ctx: Ctx, uuid: str) -> Reply:
    who = node_source.authenticate(ctx)
    return Reply(200, node_source.find(who, uuid).manifest_active)


def get_file(ctx: Ctx, uuid: str) -> Reply:
    who = node_source.authenticate(ctx)
    return Reply(302, None, {"Location": node_source.file_location(who, uuid)})


routes(bp, "/images", {"GET": list_images}, authenticated=False)
routes(bp, "/images/{uuid}", {"GET": get_image}, authenticated=False)
routes(bp, "/images/{uuid}/file", {"GET": get_file}, authenticated=False)
