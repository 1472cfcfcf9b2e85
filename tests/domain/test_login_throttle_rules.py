"""The failed-login rules (chalicelib/domain/login_throttle.py), with explicit times."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.domain import login_throttle as rules
from chalicelib.domain.login_throttle import Count

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_five_free_attempts_then_doubling_delays_up_to_thirty_minutes():
    minutes = [rules.delay(n).total_seconds() / 60 for n in range(1, 13)]
    assert minutes == [0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30, 30]
    assert rules.delay(10 ** 6) == rules.MAX_DELAY


def test_an_address_lock_runs_from_its_latest_attempt_and_is_forgotten_after_a_day():
    count = Count(6, T0)
    assert rules.address_locked_until(count) == T0 + timedelta(minutes=2)
    assert rules.address_locked_until(Count(4, T0)) is None
    assert rules.address_count(count, T0 + timedelta(hours=23)) == count
    assert rules.address_count(count, T0 + timedelta(hours=24)) == Count()


def test_a_name_is_locked_at_its_ceiling_until_its_window_ends():
    assert rules.name_locked_until(Count(99, T0), 100) is None
    assert rules.name_locked_until(Count(100, T0), 100) == T0 + rules.USER_WINDOW
    assert rules.name_count(Count(100, T0), T0 + rules.USER_WINDOW) == Count()


def test_names_are_keyed_by_hash_whatever_they_hold():
    assert rules.name_key("alice") != rules.name_key("Alice")
    assert len(rules.name_key("\ud800" * 5000)) == 64  # a lone surrogate, far over a key
    assert rules.address_scope("x" * 500) == "ip:" + "x" * rules.MAX_ADDRESS_CHARS
