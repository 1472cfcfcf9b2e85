"""The compute-node image source (SPEC §4.10): IMGAPI-style, read-only, from the image store."""
from __future__ import annotations

import hmac
from typing import Any

from chalicelib.adapters import secrets
from chalicelib.config import settings
from chalicelib.domain import errors, http_texts, imgapi
from chalicelib.domain.fields import is_uuid
from chalicelib.domain.permissions import Principal
from chalicelib.domain.vocabulary import ImageStatus
from chalicelib.persistence.models import Image

STATUS_OK = int(ImageStatus.OK)

FILTERS = imgapi.FILTERS


def authenticate(ctx: Any) -> Principal | None:
    """A node token (ES-NODE-TOKEN, `Authorization: Token`, or HTTP Basic's password as
    imgadm sends a source URL's userinfo) or a user API key.

    Returns None for the node, whose view is every ready image; a user sees what SPEC §2 lets
    them see.
    """
    from chalicelib.services.identity.authentication import authenticate as user_auth
    from chalicelib.services.identity.authentication import presented_key
    token = secrets.node_token()  # NODE_TOKEN, or the SSM parameter (read once per container)
    presented = imgapi.presented_node_token(ctx.header) or presented_key(ctx)
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return None
    principal = user_auth(ctx)
    if not principal.is_any_image_admin:
        raise errors.PermissionDenied()
    return principal


def _servable(image: Image, principal: Principal | None) -> bool:
    ready = image.status == STATUS_OK and bool((image.manifest_active or {}).get("files"))
    return ready and (principal is None or principal.can_see_image(image.dc_bound))


def _ready_images() -> Any:
    """The sparse servable-image index (a Scan only before the backfill has finished)."""
    from chalicelib.persistence import catalogue_keys
    from chalicelib.services.maintenance import catalogue_migration
    if catalogue_migration.backfilled():
        return Image.servable_index.query(catalogue_keys.SERVABLE)
    return Image.scan(Image.status == STATUS_OK)


def list_manifests(principal: Principal | None, params: dict[str, str]) -> list[dict[str, Any]]:
    """ListImages: IMGAPI's filters and `marker`/`limit` paging over the servable images."""
    imgapi.parse_limit(params.get("limit"))  # a bad limit is refused before the table is read
    servable = (image.manifest_active or {} for image in _ready_images()
                if _servable(image, principal))
    return [imgapi.dc_manifest(manifest) for manifest in imgapi.page(servable, params)]


def manifest(principal: Principal | None, uuid: str) -> dict[str, Any]:
    """GetImage: the manifest a DC's IMGAPI serves."""
    return imgapi.dc_manifest(find(principal, uuid).manifest_active or {})


def find(principal: Principal | None, uuid: str) -> Image:
    uuid = uuid.lower()
    image: Image | None = None
    if is_uuid(uuid):
        image = next(iter(Image.uuid_index.query(uuid, limit=1)), None)
    if image is None or not _servable(image, principal):
        raise errors.NotFound(http_texts.IMAGE_NOT_FOUND)
    return image


def file_location(principal: Principal | None, uuid: str) -> str:
    from chalicelib.adapters import store
    if not settings().image_server_enabled:
        raise errors.PreconditionRequired(http_texts.IMAGE_SERVER_NOT_AVAILABLE)
    return store.presign_download(find(principal, uuid).uuid)
