"""API-key authentication. Keys are random secrets; only their SHA-256 is stored or logged."""
from __future__ import annotations

import hashlib
import secrets
import time
from typing import Protocol

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain.permissions import Principal

# key hash -> (expires at, principal); per container, a few seconds (SPEC budget: GET ≤ 2 requests)
_cache: dict[str, tuple[float, Principal]] = {}


class HasHeaders(Protocol):
    def header(self, name: str) -> str | None: ...


def hash_key(key: str) -> str:
    # Keys carry 240 bits of entropy, so an unsalted fast hash is safe and allows an indexed lookup.
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(30)


def presented_key(ctx: HasHeaders) -> str | None:
    key = ctx.header("ES-API-KEY")
    if key:
        return key.strip()
    auth = ctx.header("Authorization") or ""
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "token" and token.strip():
        return token.strip()
    return None


def authenticate(ctx: HasHeaders) -> Principal:
    key = presented_key(ctx)
    if not key:
        raise errors.NotAuthenticated()
    digest = hash_key(key)
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached and cached[0] > now:
        return cached[1]
    principal = _lookup(digest)
    if len(_cache) > 1000:
        _cache.clear()
    _cache[digest] = (now + settings().auth_cache_seconds, principal)
    return principal


def _lookup(digest: str) -> Principal:
    from chalicelib.persistence.models import User
    for user in User.key_hash_index.query(digest, limit=1):
        if user.is_active and user.api_key_hash == digest:
            return Principal.from_roles(user.username, user.is_super_admin,
                                        user.dc_roles.as_dict() if hasattr(user.dc_roles, "as_dict")
                                        else dict(user.dc_roles or {}))
    raise errors.InvalidApiKey()


def forget_cache() -> None:
    _cache.clear()
