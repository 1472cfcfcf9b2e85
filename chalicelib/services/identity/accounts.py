"""Users, API keys and datacenters as the operator manages them (CLI and local stack)."""
from __future__ import annotations

import secrets
from collections.abc import Iterable

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.adapters.aws import condition_failed
from chalicelib.domain.passwords import hash_password
from chalicelib.domain.permissions import ROLES
from chalicelib.persistence.models import Datacenter, User, get_or_none
from chalicelib.services.identity.authentication import forget_cache, hash_key, new_key


class AccountError(Exception):
    pass


def parse_roles(specs: Iterable[str]) -> dict[str, list[str]]:
    """`DC:ROLE` strings -> {dc: [roles]}; unknown roles are an error, not ignored."""
    roles: dict[str, set[str]] = {}
    for spec in specs:
        dc, sep, role = spec.partition(":")
        if not sep or not dc or role not in ROLES:
            raise AccountError(f"invalid role {spec!r}: expected DC:ROLE with ROLE one of "
                               f"{', '.join(sorted(ROLES))}")
        roles.setdefault(dc, set()).add(role)
    return {dc: sorted(names) for dc, names in roles.items()}


def create_dc(name: str, image_limit: int | None = None) -> Datacenter:
    dc = Datacenter(name, image_limit=image_limit, image_count=0)
    try:
        dc.save(condition=Datacenter.name.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            raise AccountError(f"datacenter {name!r} already exists") from exc
        raise
    return dc


def ensure_dc(name: str) -> None:
    try:
        create_dc(name)
    except AccountError:
        pass


def create_user(username: str, *, super_admin: bool = False,
                roles: dict[str, list[str]] | None = None, key: str | None = None) -> str:
    """Create a user and return its API key (shown once; only the hash is stored)."""
    key = key or new_key()
    user = User(username, is_super_admin=super_admin, is_active=True, dc_roles=roles or {},
                api_key_hash=hash_key(key), callback_key=new_callback_key())
    try:
        user.save(condition=User.username.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            raise AccountError(f"user {username!r} already exists") from exc
        raise
    return key


def new_callback_key() -> str:
    """The HMAC key that signs a user's callbacks (ES-Signature); 256 bits."""
    return secrets.token_hex(32)


def callback_key(username: str, *, rotate: bool = False) -> str:
    """The user's callback key, made now if the user has none yet (users created by platform
    events); `rotate` replaces it (receivers must learn the new one)."""
    fresh = new_callback_key()
    value = fresh if rotate else User.callback_key | fresh  # if_not_exists
    try:
        User(username).update(actions=[User.callback_key.set(value)],
                              condition=User.username.exists())
    except UpdateError as exc:
        if condition_failed(exc):
            raise AccountError(f"user {username!r} does not exist") from exc
        raise
    return str(User.get(username, consistent_read=True).callback_key)


def rotate_key(username: str, key: str | None = None) -> str:
    """A new key for the user; the previous one stops working at once."""
    key = key or new_key()
    try:
        User(username).update(actions=[User.api_key_hash.set(hash_key(key))],
                              condition=User.username.exists())
    except UpdateError as exc:
        if condition_failed(exc):
            raise AccountError(f"user {username!r} does not exist") from exc
        raise
    forget_cache()
    return key


def set_password(username: str, password: str) -> None:
    """Set the user's login password (only its scrypt hash is stored). The user's current
    login token is revoked and its failed-login count cleared: an operator's reset unlocks."""
    try:
        encoded = hash_password(password)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    try:
        User(username).update(actions=[User.password_hash.set(encoded),
                                       User.token_hash.remove(), User.token_expires.remove(),
                                       User.login_failures.remove(),
                                       User.login_failed_since.remove()],
                              condition=User.username.exists())
    except UpdateError as exc:
        if condition_failed(exc):
            raise AccountError(f"user {username!r} does not exist") from exc
        raise
    forget_cache()


def ensure_admin(username: str, key: str, *, replace_key: bool = True) -> bool:
    """The local stack's SuperAdmin, with a known key (an existing user keeps its own key
    unless `replace_key`). True when the user was created here."""
    if get_or_none(User, username) is None:
        create_user(username, super_admin=True, key=key)
        return True
    if replace_key:
        rotate_key(username, key)
    return False
