"""Input limits checked before any lookup or write (issue 9.8, 9.9): chalicelib/domain/limits.py,
the field coercers, and the persistence layer's one lookup helper — without the emulator
(moto accepts keys DynamoDB refuses)."""
from __future__ import annotations

import pytest

from chalicelib.domain import fields, limits
from chalicelib.persistence import models


@pytest.mark.parametrize("key, fits", [
    ("img1", True), ("", False), ("n" * 1024, True), ("n" * 1025, False),
    ("é" * 512, True), ("é" * 513, False),   # bytes, not characters
])
def test_key_fits(key, fits):
    assert limits.key_fits(key) is fits


def test_nesting_depth_without_recursion():
    assert limits.nesting_depth({}) == 1
    assert limits.nesting_depth({"tags": ["a"], "desc": "x"}) == 2
    deep: list = []
    for _ in range(100_000):  # far beyond the interpreter's recursion limit
        deep = [deep]
    assert limits.nesting_depth(deep) == limits.MAX_BODY_DEPTH + 1


def test_lookups_of_impossible_keys_never_reach_the_table(monkeypatch):
    def no_request(*args, **kwargs):
        raise AssertionError("the table was asked")
    monkeypatch.setattr(models.Image, "get", classmethod(no_request))
    monkeypatch.setattr(models.Task, "get", classmethod(no_request))
    for key in ("", "n" * 3000, "eu-" + "0" * 2100):
        assert models.get_or_none(models.Image, key) is None
        assert models.get_or_none(models.Task, key) is None


@pytest.mark.parametrize("raw, result", [
    ("bob", ("bob", None)), (" bob ", ("bob", None)), ("", (None, "This field may not be blank.")),
    ("   ", (None, "This field may not be blank.")), (7, ("7", None)),
    ("b" * 255, (None, "Ensure this value has at most 254 characters (it has 255).")),
    ("bo\x00b", (None, "Enter a valid value.")), ([], (None, "Enter a valid value.")),
])
def test_owner_is_a_user_name(raw, result):
    assert fields.to_username(raw) == result


@pytest.mark.parametrize("text", ["nul\x00", "\u202eevil", "a\u200bb", "bell\x07", "\x1b[31m",
                                  "line\nbreak", "tab\there", "\ufeffbom", "del\x7f", "\u2066iso"])
def test_desc_refuses_control_characters(text):
    assert fields.safe_text(128, allow_empty=True)(text) == (None, "Enter a valid value.")


def test_desc_keeps_ordinary_text():
    assert fields.safe_text(128, allow_empty=True)("Ubuntu 24.04 – LTS, über-fast") == (
        "Ubuntu 24.04 – LTS, über-fast", None)


def test_tag_count_and_length():
    assert fields.to_tags([f"t{i}" for i in range(50)])[1] is None
    assert fields.to_tags([f"t{i}" for i in range(51)]) == (
        None, "Ensure this field has no more than 50 elements.")
    assert fields.to_tags(["x" * 101]) == (None, "Invalid value.")


def test_a_manifest_description_loses_its_control_characters():
    from chalicelib.domain.image_form import manifest_defaults
    assert manifest_defaults({"desc": "Tom & Jerry\x00\u202e\nv2"})["desc"] == "Tom  Jerry   v2"
