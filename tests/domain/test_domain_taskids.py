"""Task ids (SPEC §4.8, §5.1): chalicelib/domain/taskids.py."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.taskids import dummy_task_id, is_dummy, new_task_id

ID_RE = re.compile(r"^[0-9a-z-]+$")


def assert_valid_execution_name(task_id: str) -> None:
    assert ID_RE.match(task_id), task_id
    assert 1 <= len(task_id) <= 80


def test_real_id_shape():
    task_id = new_task_id()
    assert_valid_execution_name(task_id)
    assert is_dummy(task_id) is False


def test_real_ids_unique():
    ids = [new_task_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    for task_id in ids[:50]:
        assert_valid_execution_name(task_id)
        assert not is_dummy(task_id)


@pytest.mark.parametrize("username", ["admin", "bob", "Alice@Example.com", "üser", "", "a" * 300])
def test_dummy_id_shape(username):
    task_id = dummy_task_id(username)
    assert_valid_execution_name(task_id)
    assert is_dummy(task_id) is True


def test_dummy_ids_unique():
    ids = [dummy_task_id("admin") for _ in range(2000)]
    assert len(set(ids)) == 2000


def test_dummy_ids_identify_the_caller():
    a1, a2, b = dummy_task_id("admin"), dummy_task_id("admin"), dummy_task_id("bob")
    assert a1.split("-")[1] == a2.split("-")[1]
    assert a1.split("-")[1] != b.split("-")[1]


def test_dummy_and_real_ids_never_collide():
    real = {new_task_id() for _ in range(200)}
    dummy = {dummy_task_id("admin") for _ in range(200)}
    assert not real & dummy
    assert not any(is_dummy(t) for t in real)
    assert all(is_dummy(t) for t in dummy)


@pytest.mark.parametrize("task_id, expected", [
    ("du-1a2b3c4d-aaaa-bbbb-cccc-dddddddddddd", True),
    ("eu-3a4f1b62-8c1e-4f5a-9d2b-0c6e7f8a9b10", False),
    ("unknown", False),
    ("", False),
])
def test_is_dummy(task_id, expected):
    assert is_dummy(task_id) is expected


@settings(database=None, max_examples=200, deadline=None)
@given(st.text())
def test_dummy_id_for_any_username(username):
    task_id = dummy_task_id(username)
    assert_valid_execution_name(task_id)
    assert is_dummy(task_id)
