"""Fixtures of the integration tests (the session's local stack is in tests/conftest.py)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
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


@pytest.fixture
def s3(stack) -> Any:  # noqa: ANN001 (the session stack points boto3 at the emulator)
    return boto3.client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A bucket of the test's own in the emulator's S3, emptied and removed afterwards."""
    from chalicelib.adapters.transfer import abort_incomplete_uploads
    name = f"test-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    abort_incomplete_uploads(s3, name, "")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", ()):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)
