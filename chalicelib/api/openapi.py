"""GET /openapi.json: the OpenAPI 3.1 document of every route (SPEC §4.12), no API key."""
from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.descriptions import document
from chalicelib.api.http import Ctx, Reply, plain, routes

bp = Blueprint(__name__)


def openapi(ctx: Ctx) -> Reply:
    return plain(document())


routes(bp, "/openapi.json", {"GET": openapi}, authenticated=False)
