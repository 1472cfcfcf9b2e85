"""Login and logout as Danube Cloud does them (SPEC §4.11): a username and a password give a
token that expires; a new login replaces the user's previous token; a logout revokes it.

Failed logins are logged on `imageapi.auth` with the client's address and the username (never
the password), and counted on the user's item: after FAILURE_LIMIT failures within
FAILURE_WINDOW_SECONDS (counted from the first of them) the user's logins answer 429 until
that window has passed, whatever the password; a successful login clears the count. A
login of an unknown user costs the same scrypt work as a real one and gets the same answer.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.adapters.aws import condition_failed
from chalicelib.config import settings
from chalicelib.domain import errors, field_texts, http_texts, passwords
from chalicelib.domain.limits import key_fits
from chalicelib.domain.permissions import Principal
from chalicelib.persistence.models import User
from chalicelib.services.identity.authentication import (
    forget_cache,
    hash_key,
    new_login_token,
    principal_of,
    token_username,
)

log = logging.getLogger("imageapi.auth")

FAILURE_LIMIT = 5
FAILURE_WINDOW_SECONDS = 15 * 60
FIELDS = ("username", "password")


class LoginInvalid(Exception):
    """Missing or malformed fields: Danube Cloud answers 400 `{"detail": {field: [...]}}`."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(repr(errors))


class LoginFailed(errors.ApiError):
    status = 400
    detail = http_texts.LOGIN_FAILED


class LoginThrottled(errors.Throttled):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__()


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
    user: User | None = None
    if key_fits(username) and _encodable(username):
        try:
            user = User.get(username, consistent_read=True)
        except User.DoesNotExist:
            user = None
    if user is not None:
        # counted before the check, so a burst of parallel guesses gets FAILURE_LIMIT at most
        user = _claim_attempt(user, client)
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
    try:
        # replaces the previous token and clears the count; the password checked is still
        # the user's
        User(user.username).update(
            actions=[User.token_hash.set(hash_key(token)), User.token_expires.set(expires),
                     User.login_failures.remove(), User.login_failed_since.remove()],
            condition=(User.password_hash == user.password_hash) & (User.is_active == True))  # noqa: E712
    except UpdateError as exc:
        if condition_failed(exc):
            log.warning("login failed: user %s from %s (changed during the login)",
                        _shown(username), client)
            raise LoginFailed() from None
        raise
    forget_cache()
    log.info("login: user %s from %s (token expires %s)", _shown(user.username), client,
             expires.isoformat())
    return Login(token, expires, principal_of(user))


def _claim_attempt(user: User, client: str) -> User:
    """Count one login attempt in the user's window (a success clears the count), or refuse
    it with 429 when the window already holds FAILURE_LIMIT. Conditional on the count and
    window read, so concurrent attempts are all counted and none slips past the limit."""
    window = timedelta(seconds=FAILURE_WINDOW_SECONDS)
    for _ in range(10):
        at = now()
        since, failures = user.login_failed_since, int(user.login_failures or 0)
        actions: list[Action]
        if since is not None and since + window > at:
            if failures >= FAILURE_LIMIT:
                log.warning("login throttled: user %s from %s (%d failed logins since %s)",
                            _shown(user.username), client, failures, since.isoformat())
                raise LoginThrottled(max(1, math.ceil((since + window - at).total_seconds())))
            actions = [User.login_failures.add(1)]
            condition = (User.login_failed_since == since) & (
                User.login_failures.does_not_exist() | (User.login_failures < FAILURE_LIMIT))
        else:  # no window yet, or it has passed: this attempt opens a new one
            actions = [User.login_failures.set(1), User.login_failed_since.set(at)]
            condition = User.login_failed_since.does_not_exist() if since is None \
                else User.login_failed_since == since
        try:
            user.update(actions=actions, condition=User.username.exists() & condition)
            return user
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
        try:
            user = User.get(user.username, consistent_read=True)
        except User.DoesNotExist:
            break
    raise LoginFailed()


def logout(username: str, token: str | None, client: str) -> None:
    """Revoke the login token presented (nothing when the caller used an API key, or the
    token was already replaced by a newer login)."""
    if token and token_username(token) == username:
        try:
            User(username).update(actions=[User.token_hash.remove(), User.token_expires.remove()],
                                  condition=User.token_hash == hash_key(token))
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
    forget_cache()
    log.info("logout: user %s from %s", _shown(username), client)
