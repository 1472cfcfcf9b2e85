"""The minisign keys a DC trusts and whether it accepts signed images only (SPEC §4.14).

Only SuperAdmins change them: the operator CLI (AWS credentials, `by=None`) and any API path
(which passes its principal; a non-SuperAdmin gets 403). Every change of the key list is one
UpdateItem conditioned on the `trust_version` it read, so two operators trusting keys at the
same moment both end up in the list (the loser reads again and retries).
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import minisign
from chalicelib.domain.errors import PermissionDenied
from chalicelib.domain.permissions import Principal
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Datacenter, TrustedKey
from chalicelib.services.identity.accounts import (
    AccountError,
    InvalidAccountInput,
    existing_dc,
)

MAX_TRUSTED_KEYS = 50      # a DC trusts a handful of signers; the record stays small
_ATTEMPTS = 20             # optimistic retries when another change of the list wins


class KeyIdTaken(AccountError):
    """Another key with the same id is trusted in the DC."""


class TooManyKeys(AccountError):
    """The DC trusts MAX_TRUSTED_KEYS keys already."""


class KeyNotTrusted(AccountError):
    """The DC trusts no key with that id."""


def require_super_admin(by: Principal | None) -> None:
    """`None` is the operator CLI (it holds the deployment's AWS credentials)."""
    if by is not None and not by.is_super_admin:
        raise PermissionDenied()


def key_view(key: TrustedKey) -> dict[str, str]:
    return {"key_id": key.key_id, "key": key.key, "comment": key.comment or ""}


def trust_view(dc: Datacenter) -> dict[str, Any]:
    """The DC record's trust fields as every view shows them."""
    return {"trusted_keys": [key_view(key) for key in dc.trusted_keys or []],
            "signed_only": bool(dc.signed_only)}


def read_trust(name: str) -> dict[str, Any]:
    return {"name": name, **trust_view(existing_dc(name))}


def trusted_key(dc: Datacenter, key_id: str) -> minisign.PublicKey | None:
    """The DC's trusted key with this id, parsed (None: not trusted)."""
    for key in dc.trusted_keys or []:
        if key.key_id == key_id:
            return minisign.parse_public_key(key.key)
    return None


def parse_key(text: Any) -> minisign.PublicKey:
    try:
        return minisign.parse_public_key(text)
    except minisign.MalformedKey as exc:
        raise InvalidAccountInput(f"not a minisign public key ({exc}); give the whole "
                                  "`minisign -G` .pub file or its base64 line") from None


def _write_keys(name: str, change: Any) -> dict[str, Any]:
    """Read the list, let `change` make the new one, write it if nobody changed it meanwhile."""
    for _ in range(_ATTEMPTS):
        dc = existing_dc(name)
        version = int(dc.trust_version or 0)
        keys = change(list(dc.trusted_keys or []))
        if keys is None:  # nothing to change
            return read_trust(name)
        seen = Datacenter.trust_version == version
        if version == 0:  # a record made before this field, or by a "DC State" event
            seen = seen | Datacenter.trust_version.does_not_exist()
        if conditional_update(Datacenter(name), [Datacenter.trusted_keys.set(keys),
                                                 Datacenter.trust_version.set(version + 1)],
                              Datacenter.name.exists() & seen):
            return read_trust(name)
    raise AccountError(f"the trusted keys of {name!r} kept changing; try again")


def trust_key(name: str, key_text: Any, *, by: Principal | None = None) -> dict[str, Any]:
    """Trust a key (again: nothing changes). Another key with the same id is refused."""
    require_super_admin(by)
    key = parse_key(key_text)

    def add(keys: list[TrustedKey]) -> list[TrustedKey] | None:
        for old in keys:
            if old.key_id == key.key_id:
                if old.key != key.line:
                    raise KeyIdTaken(f"another key with id {key.key_id} is trusted in "
                                       f"{name!r}; untrust it first")
                return None
        if len(keys) >= MAX_TRUSTED_KEYS:
            raise TooManyKeys(f"{name!r} trusts {MAX_TRUSTED_KEYS} keys already; untrust "
                               "one first")
        return [*keys, TrustedKey(key_id=key.key_id, key=key.line, comment=key.comment)]

    return _write_keys(name, add)


def untrust_key(name: str, key_id: Any, *, by: Principal | None = None) -> dict[str, Any]:
    require_super_admin(by)
    wanted = minisign.normalized_key_id(key_id) if isinstance(key_id, str) else None
    if wanted is None:
        raise InvalidAccountInput(f"{str(key_id)[:40]!r} is not a key id (up to 16 hex digits, "
                                  "as minisign prints it in the public key's comment)")

    def remove(keys: list[TrustedKey]) -> list[TrustedKey] | None:
        kept = [key for key in keys if key.key_id != wanted]
        if len(kept) == len(keys):
            raise KeyNotTrusted(f"{name!r} does not trust a key with id {wanted}")
        return kept

    return _write_keys(name, remove)


def set_signed_only(name: str, on: bool, *, by: Principal | None = None) -> dict[str, Any]:
    require_super_admin(by)
    existing_dc(name)
    if not conditional_update(Datacenter(name), [Datacenter.signed_only.set(bool(on))],
                              Datacenter.name.exists()):
        raise AccountError(f"datacenter {name!r} does not exist")
    return read_trust(name)


def parse_switch(raw: Any) -> bool:
    """`on`/`off` as the CLI takes them."""
    value = raw.strip().lower() if isinstance(raw, str) else ""
    if value not in ("on", "off"):
        raise InvalidAccountInput(f"expected on or off, not {str(raw)[:40]!r}")
    return value == "on"
