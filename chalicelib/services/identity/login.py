"""Login and logout as Danube Cloud does them (SPEC §4.11): a username and a password give a
token that expires; a new login replaces the user's previous token; a logout revokes it.

Failed logins are logged on `imageapi.auth` with the client's address and the username (never
the password). Every attempt is counted before its password is checked, per (name, address)
and per name (login_throttle.py): a known name and an unknown one take the same steps, cost
the same scrypt work and get the same answers, 429 included.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors, field_texts, http_texts, passwords
from chalicelib.domain.limits import key_fits
from chalicelib.domain.permissions import Principal
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import User
from chalicelib.services.identity import login_throttle
from chalicelib.services.identity.authentication import (
    forget_cache,
    hash_key,
    new_login_token,
    principal_of,
    token_username,
)

log = logging.getLogger("imageapi.auth")

FIELDS = ("username", "password")


class LoginInvalid(Exception):
    """Missing or malformed fields: Danube Cloud answers 400 `{"detail": {field: [...]}}`."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(repr(errors))


class LoginFailed(errors.ApiError):
    status = 400
    detail = http_texts.LOGIN_FAILED


LoginThrottled = login_throttle.LoginThrottled


@dataclass(frozen=True)
class Login:
    token: str
    expires: datetime
    principal: Principal

    @property
    def expires_iso(self) -> str:
        return self.expires.isoformat().replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC)


def credentials(body: dict[str, Any]) -> tuple[str, str]:
    """`username` and `password` from the request body, checked as Django REST framework's
    CharField checks them (all field errors together)."""
    problems: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for name in FIELDS:
        if name not in body:
            problems[name] = [field_texts.REQUIRED]
            continue
        value = body[name]
        if value is None:
            problems[name] = [field_texts.NOT_NULL]
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems[name] = [field_texts.NOT_A_STRING]
        elif not str(value).strip():
            problems[name] = [field_texts.BLANK]
        else:
            values[name] = str(value)
    if problems:
        raise LoginInvalid(problems)
    return values["username"], values["password"]


def _shown(username: str) -> str:
    """The username as a log line shows it: quoted and escaped (it is the caller's input)."""
    return repr(username[:100] + ("…" if len(username) > 100 else ""))


def _encodable(text: str) -> bool:
    """No stored username holds a lone surrogate (JSON can carry one; DynamoDB cannot)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def login(username: str, password: str, client: str) -> Login:
    try:
        # counted before the check, so a burst of parallel guesses gets no more than allowed
        login_throttle.claim(username, client)
    except LoginThrottled:
        log.warning("login throttled: user %s from %s", _shown(username), client)
        raise
    user: User | None = None
    if key_fits(username) and _encodable(username):
        try:
            user = User.get(username, consistent_read=True)
        except User.DoesNotExist:
            user = None
    # the same scrypt work whether or not the user exists or has a password
    matches = passwords.verify_password(password, user.password_hash if user else None)
    if user is None or not matches or not user.is_active:
        reason = ("unknown user" if user is None else
                  "no password set" if not user.password_hash else
                  "wrong password" if not matches else "user is not active")
        log.warning("login failed: user %s from %s (%s)", _shown(username), client, reason)
        raise LoginFailed()

    token = new_login_token(user.username)
    expires = now() + timedelta(seconds=settings().auth_token_seconds)  # absolute
    # replaces the previous token; the password checked is still the user's
    if not conditional_update(
            User(user.username),
            [User.token_hash.set(hash_key(token)), User.token_expires.set(expires)],
            (User.password_hash == user.password_hash) & (User.is_active == True)):  # noqa: E712
        log.warning("login failed: user %s from %s (changed during the login)",
                    _shown(username), client)
        raise LoginFailed()
    login_throttle.succeeded(username, client)
    forget_cache()
    log.info("login: user %s from %s (token expires %s)", _shown(user.username), client,
             expires.isoformat())
    return Login(token, expires, principal_of(user))


def logout(username: str, token: str | None, client: str) -> None:
    """Revoke the login token presented (nothing when the caller used an API key, or the
    token was already replaced by a newer login)."""
    if token and token_username(token) == username:
        # lost when a newer login already replaced the token: nothing left to revoke
        conditional_update(User(username), [User.token_hash.remove(), User.token_expires.remove()],
                           User.token_hash == hash_key(token))
    forget_cache()
    log.info("logout: user %s from %s", _shown(username), client)
