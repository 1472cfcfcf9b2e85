"""Authentication: API keys (`ES-API-KEY`) and login tokens (`Authorization: Token <token>`).

Keys and tokens are random secrets; only their SHA-256 is stored, and neither is logged.

- An API key is found through the users table's key-hash index.
- A login token (made by POST /accounts/login, services.identity.login) names its user:
  `<base64url(username)>.<secret>`. It is checked with one strongly consistent GetItem of that
  user against the hash stored there, so a logout or a new login takes effect at once (an
  index would answer from an eventually consistent copy), and no index is needed. It expires
  AUTH_TOKEN_SECONDS after the login (absolute, as in Danube Cloud).
- `Authorization: Token <API key>` keeps working, as before login tokens existed.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.config import settings
from chalicelib.domain import errors, http_texts
from chalicelib.domain.limits import key_fits
from chalicelib.domain.permissions import Principal

if TYPE_CHECKING:
    from chalicelib.persistence.models import User

# "k:"/"t:" + hash -> (expires at, principal); per container, a few seconds (SPEC budget: a
# GET costs at most 2 requests)
_cache: dict[str, tuple[float, Principal]] = {}


class HasHeaders(Protocol):
    def header(self, name: str) -> str | None: ...


def hash_key(key: str) -> str:
    # Keys and tokens carry 240 bits of entropy, so an unsalted fast hash is safe and allows
    # a direct lookup.
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(30)


def new_login_token(username: str) -> str:
    """`<base64url(username)>.<240 random bits>` (no '.' in either part, no space)."""
    name = base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")
    return f"{name}.{secrets.token_urlsafe(30)}"


def token_username(token: str) -> str | None:
    """The user a login token names, or None when `token` is not shaped like one."""
    name, sep, secret = token.partition(".")
    if not sep or not name or not secret or "." in secret:
        return None
    try:
        username = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    return username if username and key_fits(username) else None


def presented_key(ctx: HasHeaders) -> str | None:
    """What the caller presented: `ES-API-KEY`, else the `Authorization: Token` value."""
    key = ctx.header("ES-API-KEY")
    if key and key.strip():
        return key.strip()
    return authorization_token(ctx)


def authorization_token(ctx: HasHeaders) -> str | None:
    auth = ctx.header("Authorization") or ""
    scheme, _, token = auth.strip().partition(" ")
    if scheme.lower() == "token" and token.strip():
        return token.strip()
    return None


def authenticate(ctx: HasHeaders) -> Principal:
    key = ctx.header("ES-API-KEY")
    if key and key.strip():
        return _cached("k:", key.strip(), _key_principal)
    token = authorization_token(ctx)
    if token:
        return _cached("t:", token, _token_principal)
    raise errors.NotAuthenticated()


def _cached(kind: str, secret: str, lookup: Any) -> Principal:
    digest = hash_key(secret)
    now = time.monotonic()
    cached = _cache.get(kind + digest)
    if cached and cached[0] > now:
        return cached[1]
    try:
        principal, lifetime = lookup(secret, digest)
    except errors.ApiError:  # a key or token presented and refused (never the secret itself)
        from chalicelib.adapters import metrics
        metrics.count("AuthenticationFailures", credential="api_key" if kind == "k:" else "token")
        raise
    if len(_cache) > 1000:
        _cache.clear()
    _cache[kind + digest] = (now + min(settings().auth_cache_seconds, lifetime), principal)
    return principal


def principal_of(user: User) -> Principal:
    roles = user.dc_roles.as_dict() if hasattr(user.dc_roles, "as_dict") \
        else dict(user.dc_roles or {})
    return Principal.from_roles(user.username, user.is_super_admin, roles)


def _key_principal(key: str, digest: str) -> tuple[Principal, float]:
    return _lookup(digest), float("inf")


def _lookup(digest: str) -> Principal:
    from chalicelib.persistence.models import User
    for user in User.key_hash_index.query(digest, limit=1):
        if user.is_active and user.api_key_hash == digest:
            return principal_of(user)
    raise errors.InvalidApiKey()


def _token_principal(token: str, digest: str) -> tuple[Principal, float]:
    """A login token, else an API key sent as `Authorization: Token`."""
    from chalicelib.persistence.models import User
    username = token_username(token)
    if username is not None:
        try:
            user = User.get(username, consistent_read=True)
        except User.DoesNotExist:
            user = None
        if user is not None and user.token_hash and \
                hmac.compare_digest(user.token_hash, digest) and user.is_active:
            left = (user.token_expires - datetime.now(UTC)).total_seconds() \
                if user.token_expires else 0.0
            if left <= 0:
                raise errors.NotAuthenticated()  # Danube Cloud: an expired token counts as none
            return principal_of(user), left
    try:
        return _lookup(digest), float("inf")
    except errors.InvalidApiKey:
        raise errors.NotAuthenticated(http_texts.INVALID_TOKEN) from None


def forget_cache() -> None:
    _cache.clear()
