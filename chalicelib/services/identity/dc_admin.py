"""Datacenters as the public API shows and changes them (GET/PUT /dc, the console's DC pages).

Who sees what (SPEC §2): a SuperAdmin every DC, anyone else the DCs where they are image admin
(403 and 404 as the image routes answer them); only SuperAdmins change a DC. The changes are
`accounts`' and `dc_trust`'s (what `imagectl dc limit/trust-key/untrust-key/require-signed`
run); the rules of an image limit are the "DC State" event's (`accounts.parse_image_limit`),
those of a key `dc_trust`'s.

A change made here leaves the DC's `event_version` as it is: a later platform "DC State" event
(a higher version) sets `image_limit` again, an older or repeated one stays ignored (README
"Users and DCs through the API"). No event carries `signed_only` or the trusted keys.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain import errors, http_texts
from chalicelib.domain import field_texts as texts
from chalicelib.domain.account_forms import dc_change
from chalicelib.domain.image_form import Errors
from chalicelib.domain.permissions import Principal
from chalicelib.persistence.models import Datacenter, get_or_none
from chalicelib.services.identity import accounts, dc_trust
from chalicelib.services.images.access import find_dc


def dc_object(dc: Datacenter) -> dict[str, Any]:
    trust = dc_trust.trust_view(dc)
    return {"name": dc.name,
            "image_limit": None if dc.image_limit is None else int(dc.image_limit),
            "signed_only": trust["signed_only"], "trusted_keys": trust["trusted_keys"]}


def _visible(principal: Principal) -> list[Datacenter]:
    if principal.is_super_admin:
        return list(Datacenter.scan())
    found = (get_or_none(Datacenter, name) for name in principal.image_admin_dcs)
    return [dc for dc in found if dc is not None]


def list_dcs(principal: Principal, full: bool) -> list[Any]:
    """The DCs the caller may see (none is no error: the console's DC selector is empty)."""
    dcs = sorted(_visible(principal), key=lambda dc: dc.name)
    return [dc_object(dc) for dc in dcs] if full else [dc.name for dc in dcs]


def get_dc(principal: Principal, name: str) -> dict[str, Any]:
    if not principal.is_any_image_admin:
        raise errors.PermissionDenied()
    dc = find_dc(name)
    if not principal.is_image_admin(name):
        raise errors.ObjectPermissionDenied()
    return dc_object(dc)


def change_dc(principal: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate every field first (all errors together), then write."""
    if not principal.is_super_admin:
        raise errors.PermissionDenied()
    find_dc(name)
    found = Errors()
    values = dc_change(body, found)
    if values.get("image_limit") is not None:
        try:
            accounts.parse_image_limit(values["image_limit"])
        except accounts.InvalidAccountInput:
            found.add("image_limit", texts.at_least(0))
    if found:
        raise errors.ValidationFailed(found)
    if "image_limit" in values:
        try:
            accounts.set_image_limit(name, values["image_limit"])
        except accounts.AccountError:  # deleted since it was read
            raise errors.NotFound(http_texts.DC_NOT_FOUND) from None
    if "signed_only" in values:
        _trust_change(name, lambda: dc_trust.set_signed_only(name, values["signed_only"],
                                                             by=principal))
    return dc_object(_fresh(name))


def add_key(principal: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Trust a minisign public key (the same key again changes nothing)."""
    dc_trust.require_super_admin(principal)
    find_dc(name)
    if "key" not in body:
        raise errors.field_error("key", texts.REQUIRED)
    if body["key"] is None:
        raise errors.field_error("key", texts.NOT_NULL)
    try:
        dc_trust.parse_key(body["key"])
    except accounts.InvalidAccountInput:
        raise errors.field_error("key", texts.KEY_INVALID) from None
    try:
        _trust_change(name, lambda: dc_trust.trust_key(name, body["key"], by=principal))
    except dc_trust.KeyIdTaken:
        raise errors.field_error("key", texts.KEY_ID_TAKEN) from None
    except dc_trust.TooManyKeys:
        raise errors.field_error("key", texts.too_many_keys(dc_trust.MAX_TRUSTED_KEYS)) from None
    return dc_object(_fresh(name))


def remove_key(principal: Principal, name: str, key_id: str) -> dict[str, Any]:
    """Stop trusting the key with this id (as minisign prints it; any case)."""
    dc_trust.require_super_admin(principal)
    find_dc(name)
    try:
        _trust_change(name, lambda: dc_trust.untrust_key(name, key_id, by=principal))
    except (dc_trust.KeyNotTrusted, accounts.InvalidAccountInput):
        raise errors.NotFound(http_texts.KEY_NOT_FOUND) from None
    return dc_object(_fresh(name))


def _trust_change(name: str, change: Callable[[], Any]) -> None:
    """Run a `dc_trust` change; its refusals that name the request are the caller's to map,
    a DC deleted meanwhile is 404, a key list that kept changing a 503 (retry)."""
    try:
        change()
    except (dc_trust.KeyIdTaken, dc_trust.TooManyKeys, dc_trust.KeyNotTrusted,
            accounts.InvalidAccountInput):
        raise
    except accounts.AccountError:
        find_dc(name)
        raise errors.DependencyFailed() from None


def _fresh(name: str) -> Datacenter:
    """Read after our own write (consistent: the answer shows the change)."""
    try:
        return Datacenter.get(name, consistent_read=True)
    except Datacenter.DoesNotExist:
        return find_dc(name)
