"""Reading images: GET /image (with paging), GET /image/<name>, GET /image/<name>/vm."""
from __future__ import annotations

import base64
import json
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain import image_form as form
from chalicelib.domain.fields import parse_bool_param, to_int
from chalicelib.domain.image_view import ACCESS_INTERNAL, etag, iso, render
from chalicelib.domain.ordering import parse_order_by, sort_records
from chalicelib.domain.permissions import Principal
from chalicelib.models import Image
from chalicelib.services.image_common import (
    Outcome,
    check_order_by,
    image_dc,
    load_image,
    render_vm,
    require_image_admin,
    vms_using,
)


def list_images(principal: Principal, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    order = check_order_by(params)
    full = parse_bool_param(params.get("full", False))
    extended = parse_bool_param(params.get("extended", False))
    limit, after = _page_params(params)

    condition = Image.access != ACCESS_INTERNAL
    if not principal.is_super_admin:
        condition &= Image.dc_bound.is_in(*sorted(principal.image_admin_dcs))
    items = sort_records(Image.scan(condition), order, _sort_key, tie="name")

    headers: dict[str, str] = {}
    if limit is not None:
        if after is not None:
            items = [item for item in items if _cursor_key(item, order) > after]  # exclusive
        if len(items) > limit:
            headers["es_next"] = _encode_cursor(items[limit - 1], order)
        items = items[:limit]

    result = [render(item, extended=extended) for item in items] if (full or extended) \
        else [item.name for item in items]
    return Outcome(result, settings().default_dc, headers=headers)


def _sort_key(image: Image, name: str) -> Any:
    return iso(image.created) if name == "created" else getattr(image, name)


def _cursor_key(image: Image, order: list[tuple[str, bool]]) -> tuple:
    """A position comparable in the listing's own order (descending fields inverted)."""
    parts: list[Any] = []
    for name, descending in order:
        value = _sort_key(image, name) or ""
        parts.append(_Desc(value) if descending else value)
    parts.append(image.name)
    return tuple(parts)


class _Desc(str):
    """A string that sorts backwards, so one tuple comparison serves mixed directions."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)


def _encode_cursor(image: Image, order: list[tuple[str, bool]]) -> str:
    raw = json.dumps({"o": [[n, d] for n, d in order],
                      "k": [str(p) for p in _cursor_key(image, order)]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _page_params(params: dict[str, str]) -> tuple[int | None, tuple | None]:
    errs = form.Errors()
    limit = None
    if params.get("limit") not in (None, ""):
        limit, error = to_int(params["limit"])
        if error or limit is None or not 1 <= limit <= 10000:
            errs.add("limit", error or "Ensure this value is between 1 and 10000.")
    after = None
    if params.get("cursor"):
        after = _decode_cursor(params["cursor"], check_order_by(params))
        if after is None:
            errs.add("cursor", "Invalid value.")
    if errs:
        raise errors.ValidationFailed(errs)
    return limit, after


def _decode_cursor(raw: str, order: list[tuple[str, bool]]) -> tuple | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if [tuple(pair) for pair in data["o"]] != [(n, d) for n, d in order]:
            return None  # a cursor only makes sense under the sort that produced it
        keys = [str(k) for k in data["k"]]
        if len(keys) != len(order) + 1:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    parts: list[Any] = [(_Desc(k) if d else k) for k, (_, d) in zip(keys, order)]
    parts.append(keys[-1])
    return tuple(parts)


def get_image(principal: Principal, name: str, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    check_order_by(params)
    image = load_image(principal, name)
    extended = parse_bool_param(params.get("extended", False))
    return Outcome(render(image, extended=extended), image_dc(image), headers={"ETag": etag(image)})


def image_vms(principal: Principal, name: str, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    order = parse_order_by(params.get("order_by"), ("hostname",), "hostname")
    image = load_image(principal, name)
    vms = sort_records(vms_using(image), order, lambda vm, n: getattr(vm, n), tie="uuid")
    full = parse_bool_param(params.get("full", False))
    extended = parse_bool_param(params.get("extended", False))
    result = [render_vm(vm) for vm in vms] if (full or extended) else [vm.hostname for vm in vms]
    return Outcome(result, image_dc(image))
