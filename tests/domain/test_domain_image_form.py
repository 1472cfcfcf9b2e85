"""Validation of the writable image fields (SPEC §3, §4.3, §4.4): domain/image_form.py."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import image_form as form
from chalicelib.domain.field_texts import (
    INVALID,
    NOT_NULL,
    REQUIRED,
)
from chalicelib.domain.field_texts import (
    WHOLE_NUMBER as WHOLE,
)
from chalicelib.domain.field_texts import (
    max_length as too_long,
)


def run(data, names=form.UPDATABLE):
    errors = form.Errors()
    cleaned = form.clean(data, names, errors)
    return cleaned, dict(errors)


def test_updatable_fields_and_db_only():
    assert form.UPDATABLE == ("alias", "version", "dc_bound", "owner", "access", "desc",
                              "resize", "deploy", "tags")
    assert frozenset({"dc_bound", "owner"}) == form.DB_ONLY
    assert set(form.COERCERS) == set(form.UPDATABLE)
    assert form.COERCERS["access"]("2") == (None, "Select a valid choice. 2 is not one of the "
                                                  "available choices.")


def test_errors_add_appends_in_order():
    errors = form.Errors()
    errors.add("alias", "one")
    errors.add("tags", "x")
    errors.add("alias", "two")
    assert errors == {"alias": ["one", "two"], "tags": ["x"]}
    assert list(errors) == ["alias", "tags"]


# --------------------------------------------------------------------------- clean()
def test_clean_es_tool_strings():
    data = {"alias": "foo", "version": "1.0", "access": "1", "owner": "bob", "desc": "d",
            "resize": "true", "deploy": "False",
            "tags": "a,b c", "dc_bound": "t"}  # taggit: commas win
    cleaned, errors = run(data)
    assert errors == {}
    assert cleaned == {"alias": "foo", "version": "1.0", "access": 1, "owner": "bob",
                       "desc": "d", "resize": True, "deploy": False, "tags": ["a", "b c"],
                       "dc_bound": True}


def test_clean_json_types():
    data = {"alias": "foo", "version": "2", "access": 4, "owner": "bob", "desc": "",
            "resize": False, "deploy": True, "tags": ["x", "y"], "dc_bound": False}
    cleaned, errors = run(data)
    assert errors == {}
    assert cleaned == {"alias": "foo", "version": "2", "access": 4, "owner": "bob", "desc": "",
                       "resize": False, "deploy": True, "tags": ["x", "y"], "dc_bound": False}


def test_clean_only_present_fields():
    cleaned, errors = run({"desc": "hello"})
    assert (cleaned, errors) == ({"desc": "hello"}, {})


def test_clean_empty_body():
    assert run({}) == ({}, {})


def test_clean_ignores_fields_not_named():
    cleaned, errors = run({"alias": "<bad>", "version": "1", "name": "x", "uuid": "u"},
                          names=("version",))
    assert (cleaned, errors) == ({"version": "1"}, {})


@pytest.mark.parametrize("name", form.UPDATABLE)
def test_clean_null_value(name):
    cleaned, errors = run({name: None})
    assert cleaned == {}
    assert errors == {name: [NOT_NULL]}


def test_clean_collects_all_errors_at_once():
    data = {
        "alias": "a" * 33,
        "version": "1$",
        "dc_bound": "maybe",
        "owner": None,
        "access": 2,
        "desc": "d" * 129,
        "resize": "yes",
        "deploy": "x",
        "tags": "a.b",
    }
    cleaned, errors = run(data)
    assert cleaned == {}
    assert errors == {
        "alias": [too_long(32, 33)],
        "version": [INVALID],
        "dc_bound": [INVALID],
        "owner": [NOT_NULL],
        "access": ["Select a valid choice. 2 is not one of the available choices."],
        "desc": [too_long(128, 129)],
        "resize": [INVALID],
        "deploy": [INVALID],
        "tags": ["Invalid value."],
    }
    assert list(errors) == list(form.UPDATABLE)  # reported in the order of `names`


def test_clean_mixed_good_and_bad():
    cleaned, errors = run({"alias": "ok", "version": "", "access": "three", "tags": ["t"]})
    assert cleaned == {"alias": "ok", "tags": ["t"]}
    assert errors == {"version": [REQUIRED], "access": [WHOLE]}


@pytest.mark.parametrize("field, limit", [("alias", 32), ("version", 16), ("desc", 128)])
def test_clean_length_limits(field, limit):
    assert run({field: "v" * limit}) == ({field: "v" * limit}, {})
    assert run({field: "v" * (limit + 1)}) == ({}, {field: [too_long(limit, limit + 1)]})


@pytest.mark.parametrize("field", ["alias", "version", "desc"])
@pytest.mark.parametrize("char", list("<>%$&;'\""))
def test_clean_safe_text_characters(field, char):
    assert run({field: f"a{char}b"}) == ({}, {field: [INVALID]})


@pytest.mark.parametrize("field", ["alias", "version"])
@pytest.mark.parametrize("raw", ["", "   "])
def test_clean_alias_version_non_empty(field, raw):
    assert run({field: raw}) == ({}, {field: [REQUIRED]})


def test_clean_desc_may_be_empty():
    assert run({"desc": "  "}) == ({"desc": ""}, {})


@pytest.mark.parametrize("raw, expected", [(1, 1), ("3", 3), (4, 4)])
def test_clean_access_valid(raw, expected):
    assert run({"access": raw}) == ({"access": expected}, {})


@pytest.mark.parametrize("raw, message", [
    (2, "Select a valid choice. 2 is not one of the available choices."),
    ("9", "Select a valid choice. 9 is not one of the available choices."),
    ("public", WHOLE),
    (True, WHOLE),
])
def test_clean_access_invalid(raw, message):
    assert run({"access": raw}) == ({}, {"access": [message]})


@pytest.mark.parametrize("raw", [[], {}, ["bob"]])
def test_clean_owner_must_be_text(raw):
    assert run({"owner": raw}) == ({}, {"owner": [INVALID]})


# --------------------------------------------------------------------------- property
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=10,
)


@settings(database=None, max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(form.UPDATABLE + ("name", "uuid", "bogus")), json_like))
def test_clean_partitions_present_fields(data):
    errors = form.Errors()
    cleaned = form.clean(data, form.UPDATABLE, errors)
    present = {k for k in data if k in form.UPDATABLE}
    assert set(cleaned) | set(errors) == present
    assert not set(cleaned) & set(errors)
    for messages in errors.values():
        assert len(messages) == 1 and isinstance(messages[0], str) and messages[0]
