"""Counting login attempts and refusing locked ones (the rules: domain/login_throttle.py).

Every attempt, of a user's name or of a name no user has, reads and writes the same items, so
neither the answer nor its cost tells whether a user exists. Each count is written on the
condition that it is still what was read: concurrent attempts are all counted. `clock` is
where the time comes from; tests set their own (never a sleep).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain import login_throttle as rules
from chalicelib.domain.login_throttle import Count
from chalicelib.persistence.conditional import conditional_save, conditional_update
from chalicelib.persistence.models import LoginThrottle


def system_clock() -> datetime:
    return datetime.now(UTC)


clock: Callable[[], datetime] = system_clock
ROUNDS = 25  # conditional-write rounds; each round at least one concurrent attempt wins


class LoginThrottled(errors.Throttled):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__()


@dataclass(frozen=True)
class _Scope:
    """One count: its range key and its rules."""
    scope: str
    current: Callable[[Count, datetime], Count]
    locked_until: Callable[[Count], datetime | None]
    advance: Callable[[Count, datetime], Count]
    lifetime: timedelta


def _scopes(address: str) -> tuple[_Scope, _Scope]:
    ceiling = settings().login_name_ceiling
    return (_Scope(rules.address_scope(address), rules.address_count,
                   rules.address_locked_until,
                   lambda count, at: Count(count.failures + 1, at), rules.FORGET_AFTER),
            _Scope(rules.NAME_SCOPE, rules.name_count,
                   lambda count: rules.name_locked_until(count, ceiling),
                   lambda count, at: Count(count.failures + 1, count.since or at),
                   rules.USER_WINDOW))


def _stored(item: LoginThrottle | None) -> Count | None:
    return None if item is None else Count(int(item.failures or 0), item.since)


def _read(key: str, scope: str) -> Count | None:
    try:
        return _stored(LoginThrottle.get(key, scope, consistent_read=True))
    except LoginThrottle.DoesNotExist:
        return None


def _refuse_if_locked(at: datetime, *locks: datetime | None) -> None:
    active = [until for until in locks if rules.still_locked(until, at)]
    if active:
        latest = max(until for until in active if until is not None)
        raise LoginThrottled(max(1, math.ceil((latest - at).total_seconds())))


def claim(username: str, address: str) -> None:
    """Count one attempt of `username` from `address` before its password is checked, or
    raise LoginThrottled (with the seconds to wait) when the address or the name is locked."""
    at = clock()
    key = rules.name_key(username)
    scopes = _scopes(address)
    stored = {item.scope: _stored(item) for item in LoginThrottle.batch_get(
        [(key, scope.scope) for scope in scopes], consistent_read=True)}
    _refuse_if_locked(at, *(s.locked_until(s.current(stored.get(s.scope) or Count(), at))
                            for s in scopes))
    for scope in scopes:
        _count(key, scope, at, stored.get(scope.scope))


def _count(key: str, scope: _Scope, at: datetime, stored: Count | None) -> None:
    for _ in range(ROUNDS):
        current = scope.current(stored or Count(), at)
        _refuse_if_locked(at, scope.locked_until(current))
        counted = scope.advance(current, at)
        condition = LoginThrottle.name_key.does_not_exist() if stored is None else (
            (LoginThrottle.failures == stored.failures) & (LoginThrottle.since == stored.since))
        if conditional_save(LoginThrottle(key, scope.scope, failures=counted.failures,
                                          since=counted.since,
                                          expires_at=(counted.since or at) + scope.lifetime),
                            condition):
            return
        stored = _read(key, scope.scope)
    raise LoginThrottled(1)  # never reached with fewer than ROUNDS concurrent attempts


def succeeded(username: str, address: str) -> None:
    """A success clears its address's count and takes its attempt back from the name's."""
    key = rules.name_key(username)
    LoginThrottle(key, rules.address_scope(address)).delete()
    # lost when no count is left to take back (lifted, or a new window)
    conditional_update(LoginThrottle(key, rules.NAME_SCOPE), [LoginThrottle.failures.add(-1)],
                       LoginThrottle.failures > 0)


def locks(username: str) -> list[dict[str, Any]]:
    """What an operator sees of a name's counts (a user's or not): each with its lock."""
    at = clock()
    shown = []
    for item in LoginThrottle.query(rules.name_key(username), consistent_read=True):
        count = Count(int(item.failures or 0), item.since)
        if item.scope == rules.NAME_SCOPE:
            current = rules.name_count(count, at)
            until = rules.name_locked_until(current, settings().login_name_ceiling)
            where = "all addresses"
        else:
            current = rules.address_count(count, at)
            until = rules.address_locked_until(current)
            where = item.scope.removeprefix(rules.ADDRESS_PREFIX)
        if current.failures:
            locked = until is not None and rules.still_locked(until, at)
            shown.append({"address": where, "attempts": current.failures,
                          "locked_until": until.isoformat() if until and locked else None})
    return sorted(shown, key=lambda lock: lock["address"])


def lift(username: str) -> int:
    """Forget every count of the name (an operator unlocks it); how many there were."""
    items = list(LoginThrottle.query(rules.name_key(username), consistent_read=True))
    for item in items:
        item.delete()
    return len(items)
