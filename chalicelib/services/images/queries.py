"""Reading images: GET /image (with paging), GET /image/<name>, GET /image/<name>/vm."""
from __future__ import annotations

from typing import Any

from chalicelib.config import settings
from chalicelib.domain import cursor, errors, field_texts
from chalicelib.domain.fields import parse_bool_param, to_int
from chalicelib.domain.image_form import Errors
from chalicelib.domain.image_view import etag, iso, render
from chalicelib.domain.ordering import parse_order_by, sort_records
from chalicelib.domain.permissions import Principal
from chalicelib.domain.vocabulary import Access
from chalicelib.persistence.models import Image, Vm
from chalicelib.services.images.access import (
    VM_ORDER,
    check_order_by,
    image_dc,
    load_image,
    require_image_admin,
    vms_using,
)
from chalicelib.services.images.outcome import Outcome

PAGE = (1, 10000)
Order = list[tuple[str, bool]]


def list_images(principal: Principal, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    order = check_order_by(params)
    full = parse_bool_param(params.get("full", False))
    extended = parse_bool_param(params.get("extended", False))
    limit, after = _page_params(params, order)

    condition = Image.access != int(Access.INTERNAL)
    if not principal.is_super_admin:
        condition &= Image.dc_bound.is_in(*sorted(principal.image_admin_dcs))
    items = sort_records(Image.scan(condition), order, _sort_key, tie="name")

    headers: dict[str, str] = {}
    if limit is not None:
        if after is not None:
            items = [item for item in items if _cursor_key(item, order) > after]  # exclusive
        if len(items) > limit:
            headers["es_next"] = cursor.encode(_cursor_value(items[limit - 1], order))
        items = items[:limit]

    result = [render(item, extended=extended) for item in items] if (full or extended) \
        else [item.name for item in items]
    return Outcome(result, settings().default_dc, headers=headers)


def _sort_key(image: Image, name: str) -> Any:
    return iso(image.created) if name == "created" else getattr(image, name)


def _cursor_key(image: Image, order: Order) -> tuple[Any, ...]:
    """A position comparable in the listing's own order (descending fields inverted)."""
    parts: list[Any] = []
    for name, descending in order:
        value = _sort_key(image, name) or ""
        parts.append(_Desc(value) if descending else value)
    parts.append(image.name)
    return tuple(parts)


class _Desc(str):
    """A string that sorts backwards, so one tuple comparison serves mixed directions."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


def _cursor_value(image: Image, order: Order) -> dict[str, Any]:
    return {"o": [[n, d] for n, d in order], "k": [str(p) for p in _cursor_key(image, order)]}


def _page_params(params: dict[str, str], order: Order
                 ) -> tuple[int | None, tuple[Any, ...] | None]:
    errs = Errors()
    limit = None
    if params.get("limit") not in (None, ""):
        limit, error = to_int(params["limit"])
        if error or limit is None or not PAGE[0] <= limit <= PAGE[1]:
            errs.add("limit", error or field_texts.between(*PAGE))
    after = None
    if params.get("cursor"):
        try:
            after = _position(cursor.decode(params["cursor"], _cursor_check(order))["k"], order)
        except errors.ValidationFailed as exc:
            errs.update(exc.errors)  # type: ignore[arg-type]
    if errs:
        raise errors.ValidationFailed(errs)
    return limit, after


def _cursor_check(order: Order) -> Any:
    def valid(value: Any) -> bool:
        # a cursor only makes sense under the sort that produced it
        return (isinstance(value, dict) and value.get("o") == [[n, d] for n, d in order]
                and isinstance(value.get("k"), list) and len(value["k"]) == len(order) + 1
                and all(isinstance(k, str) for k in value["k"]))
    return valid


def _position(keys: list[str], order: Order) -> tuple[Any, ...]:
    ordered = [_Desc(k) if d else k for k, (_, d) in zip(keys, order, strict=False)]
    return (*ordered, keys[-1])


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
