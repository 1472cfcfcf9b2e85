"""Reading images: GET /image (with paging), GET /image/<name>, GET /image/<name>/vm."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import cursor, errors, field_texts
from chalicelib.domain.fields import parse_bool_param, to_int
from chalicelib.domain.image_form import Errors
from chalicelib.domain.image_view import etag, render
from chalicelib.domain.ordering import parse_order_by, sort_records
from chalicelib.domain.permissions import Principal
from chalicelib.persistence import catalogue
from chalicelib.persistence.models import Image, Vm
from chalicelib.services.images import full_list
from chalicelib.services.images.access import (
    VM_ORDER,
    check_order_by,
    image_dc,
    load_image,
    require_image_admin,
    vms_using,
)
from chalicelib.services.images.outcome import Outcome
from chalicelib.services.maintenance import catalogue_migration

PAGE = (1, 10000)
Order = list[tuple[str, bool]]


def list_images(principal: Principal, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    order = check_order_by(params)
    full = parse_bool_param(params.get("full", False))
    extended = parse_bool_param(params.get("extended", False))
    how = catalogue.plan(order)
    limit, after = _page_params(params, how)
    dcs = None if principal.is_super_admin else principal.image_admin_dcs

    def render_all(items: list[Image]) -> list[Any]:
        return [render(item, extended=extended) for item in items] if (full or extended) \
            else [item.name for item in items]

    headers: dict[str, str] = {}
    if limit is None:  # what Danube Cloud's clients send: the whole list, read page by page
        result = full_list.read(_walk(how, dcs, after, full_list.PAGE), render_all)
        return Outcome(result, settings().default_dc)
    items = list(itertools.islice(_walk(how, dcs, after, limit + 1), limit + 1))
    if len(items) > limit:
        headers["es_next"] = cursor.encode(_cursor_value(how, items[limit - 1]))
    return Outcome(render_all(items[:limit]), settings().default_dc, headers=headers)


def _walk(how: catalogue.Walk, dcs: frozenset[str] | None, after: str | None,
          page_size: int | None) -> Iterator[Image]:
    if catalogue_migration.backfilled():
        return catalogue.walk(how, dcs, after, page_size)
    return catalogue.scan_walk(how, dcs, after)  # records without their index keys yet


# A cursor names its walk and the position in it; `v` tells it from the cursors made before
# the indexes (a 400 `cursor: Invalid value.`, as any cursor not made here).
CURSOR_VERSION = 2


def _walk_id(how: catalogue.Walk) -> list[Any]:
    return [how.by, how.descending, how.ties_descending]


def _cursor_value(how: catalogue.Walk, image: Image) -> dict[str, Any]:
    return {"v": CURSOR_VERSION, "w": _walk_id(how), "p": how.position(image)}


def _page_params(params: dict[str, str], how: catalogue.Walk) -> tuple[int | None, str | None]:
    errs = Errors()
    limit = None
    if params.get("limit") not in (None, ""):
        limit, error = to_int(params["limit"])
        if error or limit is None or not PAGE[0] <= limit <= PAGE[1]:
            errs.add("limit", error or field_texts.between(*PAGE))
    after = None
    if params.get("cursor"):
        try:
            after = cursor.decode(params["cursor"], _cursor_check(how))["p"]
        except errors.ValidationFailed as exc:
            errs.update(exc.errors)  # type: ignore[arg-type]
    if errs:
        raise errors.ValidationFailed(errs)
    return limit, after


def _cursor_check(how: catalogue.Walk) -> Any:
    def valid(value: Any) -> bool:
        # a cursor only makes sense in the walk that produced it
        return (isinstance(value, dict) and value.get("v") == CURSOR_VERSION
                and value.get("w") == _walk_id(how)
                and catalogue.valid_position(how, value.get("p")))
    return valid


def get_image(principal: Principal, name: str, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    check_order_by(params)
    image = load_image(principal, name)
    extended = parse_bool_param(params.get("extended", False))
    return Outcome(render(image, extended=extended), image_dc(image),
                   headers={"ETag": etag(image)})


def image_vms(principal: Principal, name: str, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    order = parse_order_by(params.get("order_by"), VM_ORDER, "hostname")
    image = load_image(principal, name)
    vms = sort_records(vms_using(image), order, lambda vm, n: getattr(vm, n), tie="uuid")
    full = parse_bool_param(params.get("full", False))
    extended = parse_bool_param(params.get("extended", False))
    result = [render_vm(vm) for vm in vms] if (full or extended) else [vm.hostname for vm in vms]
    return Outcome(result, image_dc(image))


def render_vm(vm: Vm) -> dict[str, Any]:
    return {
        "hostname": vm.hostname, "uuid": vm.uuid, "dc": vm.dc, "owner": vm.owner,
        "status": vm.status, "ostype": int(vm.ostype),
        "disks": [{"image_uuid": d.image_uuid, "size": int(d.size)} for d in vm.disks or []],
    }
