"""Finding what a request names, and whether the caller may touch it (SPEC §2)."""
from __future__ import annotations

from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain import http_texts as texts
from chalicelib.domain.image_view import etag
from chalicelib.domain.ordering import parse_order_by
from chalicelib.domain.permissions import Principal
from chalicelib.persistence.models import Datacenter, Image, User, Vm, get_or_none

IMAGE_ORDER = ("name", "created")
VM_ORDER = ("hostname",)  # GET /image/{name}/vm (queries.image_vms; the OpenAPI document)


def require_image_admin(principal: Principal) -> None:
    if not principal.is_any_image_admin:
        raise errors.PermissionDenied()


def check_order_by(*sources: dict[str, Any]) -> list[tuple[str, bool]]:
    """`order_by` is accepted (and checked) by every /image method (SPEC §4)."""
    raw = next((src["order_by"] for src in sources if "order_by" in src), None)
    return parse_order_by(raw, IMAGE_ORDER, "name")


def load_image(principal: Principal, name: str) -> Image:
    """404 when missing, 403 when outside the caller's DCs."""
    image = get_or_none(Image, name)
    if image is None:
        raise errors.NotFound(texts.IMAGE_NOT_FOUND)
    if not principal.can_manage_image(image.dc_bound):
        raise errors.ObjectPermissionDenied()
    return image


def image_dc(image: Image) -> str:
    return image.dc_bound or settings().default_dc


def find_dc(name: Any) -> Datacenter:
    dc = get_or_none(Datacenter, name) if isinstance(name, str) and name else None
    if dc is None:
        raise errors.NotFound(texts.DC_NOT_FOUND)
    return dc


def active_user_exists(username: str) -> bool:
    user = get_or_none(User, username)
    return bool(user and user.is_active)


def check_if_match(image: Image, if_match: str | None) -> None:
    if if_match and if_match.strip() != "*" and \
            etag(image) not in [tag.strip() for tag in if_match.split(",")]:
        raise errors.PreconditionFailed()


def vms_using(image: Image) -> list[Vm]:
    """VMs in a DC the image is attached to with a disk from this image (SPEC §4.5)."""
    if not image.dcs:
        return []
    condition = Vm.image_uuids.contains(image.uuid) & Vm.dc.is_in(*[str(dc) for dc in image.dcs])
    return list(Vm.scan(condition))
