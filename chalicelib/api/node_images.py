"""IMGAPI-compatible read endpoints for compute nodes (SPEC §4.10); plain JSON, no envelope."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Ctx, Reply, routes
from chalicelib.services import node_images

bp = Blueprint(__name__)


def list_images(ctx: Ctx) -> Reply:
    who = node_images.authenticate(ctx)
    return Reply(200, node_images.list_manifests(who, ctx.params))


def get_image(ctx: Ctx, uuid: str) -> Reply:
    who = node_images.authenticate(ctx)
    return Reply(200, node_images.find(who, uuid).manifest_active)


def get_file(ctx: Ctx, uuid: str) -> Reply:
    who = node_images.authenticate(ctx)
    return Reply(302, None, {"Location": node_images.file_location(who, uuid)})


routes(bp, "/images", {"GET": list_images}, authenticated=False)
routes(bp, "/images/{uuid}", {"GET": get_image}, authenticated=False)
routes(bp, "/images/{uuid}/file", {"GET": get_file}, authenticated=False)
