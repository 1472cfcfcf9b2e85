"""Failed-login throttling (issue 18.6-18.7) as pure rules over the counts a table keeps.

Two counts per login name, kept alike whether or not the name is a user's (an unknown name
answers exactly like a known one, and no user record is made for it):
- per (name, client address): FREE_FAILURES attempts cost nothing; from then on each attempt
  locks that address out of that name for a delay that doubles (BASE_DELAY up to MAX_DELAY).
  A success, or FORGET_AFTER without an attempt, clears it. One address cannot lock out another.
- per name, from every address: a ceiling far above one address's (`LOGIN_USER_CEILING` per
  USER_WINDOW), against guessing from many addresses; it locks the name until the window ends.
Attempts are counted before the password is checked (a success takes its attempt back), so a
burst of parallel guesses gets no more than the rules allow.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

FREE_FAILURES = 5
BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(minutes=30)
FORGET_AFTER = timedelta(hours=24)
USER_WINDOW = timedelta(hours=1)
NAME_SCOPE = "*"                      # the range key of the per-name count
ADDRESS_PREFIX = "ip:"                # range keys of the per-address counts
MAX_ADDRESS_CHARS = 64                # an IPv6 address has at most 45


def name_key(username: str) -> str:
    """The hash key of a name's counts: its SHA-256, so that no caller-chosen text (of any
    length or encoding) becomes a key, and a user's counts are found from the name alone."""
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def address_scope(address: str) -> str:
    return ADDRESS_PREFIX + address[:MAX_ADDRESS_CHARS]


@dataclass(frozen=True)
class Count:
    """Attempts counted, and since when: for an address the latest attempt, for the name the
    start of its window."""
    failures: int = 0
    since: datetime | None = None


def delay(failures: int) -> timedelta:
    """How long an address stays locked after its `failures`-th counted attempt."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    doubled: timedelta = BASE_DELAY * 2 ** min(failures - FREE_FAILURES, 16)
    return min(MAX_DELAY, doubled)


def address_count(stored: Count, at: datetime) -> Count:
    """The count that still applies at `at` (forgotten FORGET_AFTER after the last attempt)."""
    if stored.since is None or at - stored.since >= FORGET_AFTER:
        return Count()
    return stored


def address_locked_until(count: Count) -> datetime | None:
    if count.since is None or count.failures < FREE_FAILURES:
        return None
    return count.since + delay(count.failures)


def name_count(stored: Count, at: datetime) -> Count:
    """The name's count in its current window (a new window once USER_WINDOW has passed)."""
    if stored.since is None or at >= stored.since + USER_WINDOW:
        return Count()
    return stored


def name_locked_until(count: Count, ceiling: int) -> datetime | None:
    if count.since is None or count.failures < ceiling:
        return None
    return count.since + USER_WINDOW


def still_locked(until: datetime | None, at: datetime) -> bool:
    return until is not None and until > at
