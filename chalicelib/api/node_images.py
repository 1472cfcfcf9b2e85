"""IMGAPI-compatible read endpoints for compute nodes (SPEC §4.10); plain JSON, no envelope."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, routes
from chalicelib.domain.permissions import Principal
from chalicelib.services.images import node_source

bp = Blueprint(__name__)


def _caller(ctx: Ctx) -> Principal | None:
    """The node (None) or the user behind the request, who is named in `es_username`."""
    ctx.principal = node_source.authenticate(ctx)
    return ctx.principal


def list_images(ctx: Ctx) -> Reply:
    return Reply(200, node_source.list_manifests(_caller(ctx), ctx.params))


def get_image(ctx: Ctx, uuid: str) -> Reply:
    return Reply(200, node_source.manifest(_caller(ctx), uuid))


def get_file(ctx: Ctx, uuid: str) -> Reply:
    return Reply(302, None, {"Location": node_source.file_location(_caller(ctx), uuid)})


routes(bp, "/images", {"GET": list_images}, authenticated=False)
routes(bp, "/images/{uuid}", {"GET": get_image}, authenticated=False)
routes(bp, "/images/{uuid}/file", {"GET": get_file}, authenticated=False)
