"""The IMGAPI base for compute nodes' `imgadm` (SPEC §4.10): ping and the JSON paths, plain
JSON. `<base>/images/<uuid>/file` is not a Lambda route: in AWS CloudFront serves it from the
store (a Lambda answer holds 6 MB at most), in the local stack `devstack/imgapi_edge.py` does.
"""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.http import Ctx, Reply, routes
from chalicelib.api.node_images import get_image, list_images
from chalicelib.domain import imgapi
from chalicelib.services.images import node_source

bp = Blueprint(__name__)


def ping(ctx: Ctx) -> Reply:
    """IMGAPI's ping; the node token is checked here too, so `imgadm sources -a` with a wrong
    token fails at once rather than at the first import."""
    node_source.authenticate(ctx)
    return Reply(200, dict(imgapi.PING))


routes(bp, f"{imgapi.BASE_PATH}/ping", {"GET": ping}, authenticated=False)
routes(bp, f"{imgapi.BASE_PATH}/images", {"GET": list_images}, authenticated=False)
routes(bp, f"{imgapi.BASE_PATH}/images/{{uuid}}", {"GET": get_image}, authenticated=False)
