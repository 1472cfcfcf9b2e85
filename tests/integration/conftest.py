"""Fixtures of the integration tests (the session's local stack is in tests/conftest.py)."""
from __future__ import annotations

import pytest

from tests.integration import racing
from tests.support import image_admin_roles

PASSWORD = "Tr0ub4dor&3 with spaces"


@pytest.fixture
def hold(monkeypatch):
    """Build a racing.StepHold; every hold is released when the test ends, pass or fail."""
    holds: list[racing.StepHold] = []

    def make(*steps: str, passing: int = 0) -> racing.StepHold:
        holds.append(racing.StepHold(monkeypatch, *steps, passing=passing))
        return holds[-1]

    yield make
    for made in holds:
        made.release_all()


@pytest.fixture
def alice(clean):
    """An image admin in `main` with an API key and the password PASSWORD."""
    from chalicelib.services.identity import accounts
    api = clean.user("alice", roles=image_admin_roles("main"))
    accounts.set_password("alice", PASSWORD)
    return api
