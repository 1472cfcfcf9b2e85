"""The checks every new image meets, whichever way it comes (import, upload, from a VM
snapshot): its name, its owner, a free alias+version (and uuid, when known before), and room
under its DC's image limit. The transaction that creates the record checks the uniqueness and
the limit again (conflicts.create_record); these give the same answers before it."""
from __future__ import annotations

from typing import Any

from chalicelib.domain import field_texts
from chalicelib.domain import image_form as form
from chalicelib.domain.fields import image_name_error
from chalicelib.domain.permissions import Principal
from chalicelib.domain.vocabulary import Access
from chalicelib.persistence import records
from chalicelib.persistence.models import Datacenter
from chalicelib.services.images.access import active_user_exists


def check(principal: Principal, name: str, values: dict[str, Any], errs: form.Errors, *,
          dc: Datacenter | None, uuid: str | None = None, unique: bool = True,
          source_field: str = "manifest_url") -> bool:
    """Name, owner, alias+version (and uuid), then the limit of `dc` (None: the image is bound
    to no DC). False when the DC is full. `source_field` names where the uuid came from (the
    manifest URL of an import, the manifest of an upload)."""
    check_name(name, errs)
    check_owner(principal, values, errs)
    if unique:
        check_unique(values, uuid, errs, source_field)
    return dc is None or check_limit(dc, errs)


def defaults(principal: Principal, name: str) -> dict[str, Any]:
    """What a new image is when neither a manifest nor the request says otherwise."""
    return {"alias": name, "access": int(Access.PRIVATE), "owner": principal.username}


def check_name(name: str, errs: form.Errors) -> None:
    error = image_name_error(name)
    if error:
        errs.add("name", error)


def check_owner(principal: Principal, values: dict[str, Any], errs: form.Errors) -> None:
    """Another owner than the caller must be an active user."""
    owner = values["owner"]
    if "owner" not in errs and owner != principal.username and not active_user_exists(owner):
        errs.add("owner", field_texts.owner_missing(owner))


def check_unique(values: dict[str, Any], uuid: str | None, errs: form.Errors,
                 source_field: str = "manifest_url") -> None:
    """The alias+version (and the uuid, when the manifest gave one) are free."""
    if errs.keys() & {"alias", "version"}:
        return
    alias_key = records.alias_guard(values["alias"], values["version"])
    keys = [alias_key] if uuid is None else [records.uuid_guard(uuid), alias_key]
    taken = records.guard_owners(keys)
    holder = taken.get(records.uuid_guard(uuid)) if uuid is not None else None
    if holder:
        errs.add(source_field, field_texts.uuid_registered(holder))
    if taken.get(alias_key):
        errs.add("alias", field_texts.ALIAS_IN_USE)


def check_limit(dc: Datacenter, errs: form.Errors) -> bool:
    """Room for one more image bound to the DC; False (and the error) when it is full."""
    if dc.image_limit is not None and dc.image_count >= dc.image_limit:
        errs.add("non_field_errors", field_texts.LIMIT_REACHED)
        return False
    return True
