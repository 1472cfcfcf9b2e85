"""The OpenAPI 3.1 document of every route (SPEC §4.12) and the OPTIONS answer drawn from it.

Built on the first request (not at import: cold starts pay nothing for it) from the domain's
builder and the facts the services own, then kept for the container's life. Its own module so
that `http` (OPTIONS on every route) and `openapi` (GET /openapi.json, itself a route) both
use it without importing each other.
"""
from __future__ import annotations

import functools
from typing import Any


@functools.cache
def document() -> dict[str, Any]:
    from chalicelib.config import SERVICE_VERSION
    from chalicelib.domain.openapi_document import build
    from chalicelib.domain.openapi_fields import ServiceFacts
    from chalicelib.services.images import node_source, queries
    from chalicelib.services.images.access import IMAGE_ORDER, VM_ORDER
    from chalicelib.services.tasks import views
    return build(ServiceFacts(version=SERVICE_VERSION, image_page=queries.PAGE,
                              log_page=views.LOG_PAGE, image_order=IMAGE_ORDER,
                              vm_order=VM_ORDER, node_filters=node_source.FILTERS))


def describe(path: str) -> dict[str, Any]:
    """The OPTIONS answer of a route (SPEC §4.12)."""
    from chalicelib.domain.openapi_document import describe as described
    return described(document(), path)
