"""Failed logins (issue 18.6-18.7): an unknown name answers exactly like a known one, 429
included; attempts are throttled per (name, client address) with growing delays and per name
with a far higher ceiling; the client address is the connection's (the local gateway fills
API Gateway's sourceIp from it); an operator sees and lifts a lock with `imagectl`. Time comes
from an injected clock, never a sleep."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.integration.conftest import PASSWORD
from tests.integration.test_imagectl import ctl, ok  # noqa: F401 - the fixture
from tests.support import Api

LOGIN_FAILED = {"detail": "Unable to log in with provided credentials."}
THROTTLED = {"detail": "Request was throttled."}


class _FromAddress(HTTPAdapter):
    """Connections from a chosen loopback address (127.0.0.0/8 is all this host's)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class ApiFrom(Api):
    def __init__(self, base_url: str, address: str) -> None:
        super().__init__(base_url, None)
        self.session = requests.Session()
        self.session.mount("http://", _FromAddress(address))

    def transport(self) -> Any:
        return self.session


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from chalicelib.services.identity import login_throttle
    injected = Clock()
    monkeypatch.setattr(login_throttle, "clock", injected)
    return injected


@pytest.fixture
def client(clean):
    """`client(address)`: an anonymous API client connecting from that loopback address."""
    made: list[ApiFrom] = []

    def make(address: str = "127.0.0.1") -> ApiFrom:
        made.append(ApiFrom(clean.api_url, address))
        return made[-1]

    yield make
    for api in made:
        api.session.close()


def login(api: Api, username: str = "alice", password: str = PASSWORD, **kw):
    return api.post("/accounts/login", {"username": username, "password": password}, **kw)


def answer(r) -> tuple[int, Any, str | None]:
    return r.status_code, r.json(), r.headers.get("Retry-After")


def test_an_unknown_name_answers_exactly_like_a_known_one(clean, alice, client, clock):
    from chalicelib.persistence.models import User
    clean.user("bob")  # a user without a password
    api = client()
    seen = {}
    for name in ("alice", "bob", "nobody"):
        answers = [answer(login(api, name, "guess")) for _ in range(6)]
        seen[name] = answers
        assert answers == [(400, LOGIN_FAILED, None)] * 5 + [(429, THROTTLED, "60")], name
    assert seen["alice"] == seen["bob"] == seen["nobody"]
    assert User.count("nobody") == 0  # no user record for a name tried
    clock.advance(seconds=60)
    for name in ("alice", "nobody"):  # the lock passes alike
        assert answer(login(api, name, "guess")) == (400, LOGIN_FAILED, None)


def test_one_address_cannot_lock_out_another(clean, alice, client, clock):
    attacker, owner = client("127.0.0.1"), client("127.0.0.2")
    for _ in range(5):
        assert login(attacker, password="guess").status_code == 400
    assert answer(login(attacker)) == (429, THROTTLED, "60")  # even the right password
    # a header the client sets is no address
    assert login(attacker, headers={"X-Forwarded-For": "127.0.0.9"}).status_code == 429
    assert login(owner).status_code == 200
    assert login(owner, password="guess").status_code == 400  # its own count


def test_the_delays_grow_and_a_success_clears_them(clean, alice, client, clock):
    api = client()
    for _ in range(5):
        assert login(api, password="guess").status_code == 400
    for wait in (60, 120, 240, 480):
        assert answer(login(api, password="guess")) == (429, THROTTLED, str(wait))
        clock.advance(seconds=wait - 1)
        assert login(api, password="guess").status_code == 429
        clock.advance(seconds=1)
        assert login(api, password="guess").status_code == 400  # one more try, then longer
    clock.advance(minutes=16)
    assert login(api).status_code == 200
    for _ in range(5):  # counted from zero again
        assert login(api, password="guess").status_code == 400
    assert login(api, password="guess").status_code == 429


def test_the_longest_delay_is_capped(clean, alice, client, clock):
    api = client()
    retry_after = []
    for _ in range(20):  # 5 free failures, then each lock waited out and one more failure
        r = login(api, password="guess")
        if r.status_code == 429:
            retry_after.append(int(r.headers["Retry-After"]))
            clock.advance(seconds=retry_after[-1])
    assert retry_after[:7] == [60, 120, 240, 480, 960, 1800, 1800]
    assert max(retry_after) == 30 * 60


def test_a_name_has_a_ceiling_over_all_addresses(clean, alice, client, clock,
                                                 settings_override):
    settings_override(LOGIN_NAME_CEILING="8")
    for address in ("127.0.0.2", "127.0.0.3"):
        for _ in range(4):  # under each address's own limit
            assert login(client(address), password="guess").status_code == 400
    assert answer(login(client("127.0.0.4"), password="guess")) == (429, THROTTLED, "3600")
    assert login(client("127.0.0.1")).status_code == 429
    clock.advance(hours=1)
    assert login(client("127.0.0.1")).status_code == 200


def test_a_burst_of_parallel_guesses_gets_five_at_most(clean, alice, client, clock):
    api = client()
    with ThreadPoolExecutor(10) as pool:
        codes = sorted(pool.map(lambda i: login(ApiFrom(clean.api_url, "127.0.0.1"),
                                                password=f"guess{i}").status_code, range(10)))
    assert codes == [400] * 5 + [429] * 5
    assert login(api).status_code == 429


def test_an_operator_sees_and_lifts_a_lock(clean, alice, client, clock, ctl):  # noqa: F811
    api = client("127.0.0.2")
    for _ in range(5):
        login(api, password="guess")
    assert login(api).status_code == 429
    shown = ok(ctl("user", "locks", "alice")).out
    assert "127.0.0.2: 5 attempts, locked until" in shown
    assert "all addresses: 5 attempts" in shown and "alice" in shown
    assert "login locks:        127.0.0.2: 5 attempts, locked until" in ok(
        ctl("user", "show", "alice")).out
    assert ok(ctl("user", "unlock", "alice", "--json")).data["counts_removed"] == 2
    assert ok(ctl("user", "locks", "alice")).out == "failed logins of alice: none\n"
    assert login(api).status_code == 200
    for _ in range(6):  # a name no user has: seen and lifted alike
        login(api, "nobody", "guess")
    assert "locked until" in ok(ctl("user", "locks", "nobody")).out
    ok(ctl("user", "unlock", "nobody"))
    assert login(api, "nobody", "guess").status_code == 400


def test_an_operator_password_reset_unlocks(clean, alice, client, clock):
    from chalicelib.services.identity import accounts
    api = client()
    for _ in range(5):
        login(api, password="guess")
    assert login(api).status_code == 429
    accounts.set_password("alice", PASSWORD)
    assert login(api).status_code == 200


def test_the_log_names_the_connection_address(clean, alice, client, clock, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="imageapi.auth")
    login(client("127.0.0.2"), password="guess")
    login(client("127.0.0.3"))
    messages = [r.getMessage() for r in caplog.records if r.name == "imageapi.auth"]
    assert any("'alice' from 127.0.0.2 (wrong password)" in m for m in messages)
    assert any(m.startswith("login: user 'alice' from 127.0.0.3") for m in messages)
