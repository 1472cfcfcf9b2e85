"""Fixtures of the integration tests (the session's local stack is in tests/conftest.py)."""
from __future__ import annotations

import pytest

from tests.integration import racing


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
