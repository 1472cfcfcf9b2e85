"""The fields of PUT /dc/{dc} and PUT /accounts/user/{username} (the console's DC and user
pages), coerced as `es` sends them and checked with the catalogue's texts. Pure: whether a DC
exists and whether an image limit is acceptable to the read model are the services' to say.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.domain import field_texts as texts
from chalicelib.domain import fields as f
from chalicelib.domain.image_form import Errors
from chalicelib.domain.limits import MAX_USERNAME_CHARS
from chalicelib.domain.permissions import ROLES
from chalicelib.domain.platform_events import NAME_RE

# a DC's roles as `es` sends a list: "admin,image_admin" (or spaces), like tags
_ROLE_SEPARATORS = re.compile(r"[,\s]+")
# DCs one request may give roles in: each is looked up, so a body of thousands would outlast
# the API's 29 s (a platform has a handful of DCs)
MAX_DCS_PER_REQUEST = 100


def is_entity_name(value: Any) -> bool:
    """A DC or user name as platform events name them (the operator CLI's rule too)."""
    return isinstance(value, str) and len(value) <= MAX_USERNAME_CHARS \
        and NAME_RE.fullmatch(value) is not None


def _role_list(raw: Any) -> list[str] | None:
    if isinstance(raw, str):
        return [part for part in _ROLE_SEPARATORS.split(raw) if part]
    if isinstance(raw, list) and all(isinstance(role, str) for role in raw):
        return raw
    return None


def to_dc_roles(raw: Any, dc_exists: Callable[[str], bool]
                ) -> tuple[dict[str, list[str]] | None, list[str]]:
    """`{dc: [roles]}` -> the roles per DC, sorted (a DC given no role is dropped: also one
    deleted since), and every error, in the body's order: an unknown role, or a DC given
    roles that has an impossible name or does not exist, is not a choice."""
    if not isinstance(raw, dict):
        return None, [texts.INVALID]
    if len(raw) > MAX_DCS_PER_REQUEST:
        return None, [texts.too_many_items(MAX_DCS_PER_REQUEST)]
    roles: dict[str, list[str]] = {}
    errors: list[str] = []
    for dc, given in raw.items():
        names = _role_list(given)
        if names is None:
            errors.append(texts.INVALID)
        elif names and not (is_entity_name(dc) and dc_exists(dc)):
            errors.append(texts.not_a_choice(dc if len(dc) <= 64 else dc[:64] + "..."))
        if names:
            errors.extend(texts.not_a_choice(name) for name in names if name not in ROLES)
            roles[dc] = sorted(set(names))
    return (None, errors) if errors else (roles, [])


def user_change(body: dict[str, Any], errors: Errors,
                dc_exists: Callable[[str], bool]) -> dict[str, Any]:
    """`is_active` and `dc_roles` of the body (others are ignored, as the image form does)."""
    values: dict[str, Any] = {}
    if "is_active" in body:
        _one(body, "is_active", f.to_bool, values, errors)
    if "dc_roles" in body:
        if body["dc_roles"] is None:
            errors.add("dc_roles", texts.NOT_NULL)
        else:
            roles, found = to_dc_roles(body["dc_roles"], dc_exists)
            for message in found:
                errors.add("dc_roles", message)
            if roles is not None:
                values["dc_roles"] = roles
    return values


def dc_change(body: dict[str, Any], errors: Errors) -> dict[str, Any]:
    """`image_limit` (a whole number, or null for none) and `signed_only` of the body."""
    values: dict[str, Any] = {}
    if "image_limit" in body:
        if body["image_limit"] is None:
            values["image_limit"] = None
        else:
            _one(body, "image_limit", f.to_int, values, errors)
    if "signed_only" in body:
        _one(body, "signed_only", f.to_bool, values, errors)
    return values


def _one(body: dict[str, Any], name: str, coerce: f.Coercer, values: dict[str, Any],
         errors: Errors) -> None:
    if body[name] is None:
        errors.add(name, texts.NOT_NULL)
        return
    value, error = coerce(body[name])
    if error:
        errors.add(name, error)
    else:
        values[name] = value
