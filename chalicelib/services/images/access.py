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


def in_use(image: Image) -> bool:
    """Whether a VM in a DC the image is attached to has a disk from it (SPEC §4.5): one
    Query of the image's uses."""
    from chalicelib.persistence import vm_uses
    from chalicelib.services.maintenance import catalogue_migration
    if not catalogue_migration.backfilled():
        return bool(_scanned_vms_using(image))
    return bool(vm_uses.using(image.uuid, [str(dc) for dc in image.dcs or []]))


def vms_using(image: Image) -> list[Vm]:
    """Those VMs: a Query of the uses, then one BatchGetItem of the VMs."""
    from chalicelib.persistence import vm_uses
    from chalicelib.services.maintenance import catalogue_migration
    if not catalogue_migration.backfilled():
        return _scanned_vms_using(image)
    uses = vm_uses.using(image.uuid, [str(dc) for dc in image.dcs or []])
    if not uses:
        return []
    vms = Vm.batch_get([use.vm_uuid for use in uses])
    # the VM as read now (a use and its VM are written in one transaction)
    return [vm for vm in vms if not vm.deleted and image.uuid in (vm.image_uuids or [])]


def _scanned_vms_using(image: Image) -> list[Vm]:
    """Before the backfill has written every VM's uses: the scan of every VM."""
    if not image.dcs:
        return []
    condition = Vm.image_uuids.contains(image.uuid) & Vm.dc.is_in(*[str(dc) for dc in image.dcs])
    return list(Vm.scan(condition))
