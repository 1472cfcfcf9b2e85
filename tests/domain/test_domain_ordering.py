"""`order_by` parsing and stable sorting (SPEC §1.2, §4, §4.1, §4.6): domain/ordering.py."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from chalicelib.domain import errors
from chalicelib.domain.ordering import parse_order_by, sort_records

IMAGE = ("name", "created")
DETAIL = "Invalid order_by; Possible sort fields are: name, created"


def parse(raw):
    return parse_order_by(raw, IMAGE, "name")


@pytest.mark.parametrize("raw, expected", [
    (None, [("name", False)]),
    ("", [("name", False)]),
    ("name", [("name", False)]),
    ("created", [("created", False)]),
    ("-name", [("name", True)]),
    ("-created", [("created", True)]),
    ("+name", [("name", False)]),
    ("+created", [("created", False)]),
    ("name,-created", [("name", False), ("created", True)]),
    ("-created,name", [("created", True), ("name", False)]),
    (" name , -created ", [("name", False), ("created", True)]),
    ("created,+name", [("created", False), ("name", False)]),
])
def test_parse_valid(raw, expected):
    assert parse(raw) == expected


def test_default_is_used_when_missing():
    assert parse_order_by(None, ("hostname",), "hostname") == [("hostname", False)]
    assert parse_order_by(None, IMAGE, "-created") == [("created", True)]


@pytest.mark.parametrize("raw", [
    "bogus", "Name", "NAME", "uuid", "hostname", "-bogus", "name,", ",name", ",", "-", "+",
    "name;created", "name created", "name,bogus", "created,-", " ", 5, 0, True, ["name"],
    {"name": 1},
])
def test_parse_invalid(raw):
    with pytest.raises(errors.InvalidParameter) as info:
        parse(raw)
    assert info.value.status == 412
    assert info.value.detail == DETAIL
    assert str(info.value) == DETAIL
    assert isinstance(info.value, errors.ApiError)


# SPEC §4: a single `-` (or ignored `+`) prefix; anything else -> 412.
@pytest.mark.parametrize("raw", ["--name", "+-name", "-+created", "++name"])
def test_parse_rejects_repeated_prefixes(raw):
    with pytest.raises(errors.InvalidParameter) as info:
        parse(raw)
    assert info.value.status == 412
    assert info.value.detail == DETAIL


def test_invalid_detail_names_the_allowed_fields():
    with pytest.raises(errors.InvalidParameter) as info:
        parse_order_by("name", ("hostname",), "hostname")
    assert info.value.status == 412
    assert info.value.detail == "Invalid order_by; Possible sort fields are: hostname"


# --------------------------------------------------------------------------- sorting
def key_of(item, name):
    return getattr(item, name)


RECORDS = [
    NS(name="delta", created="2024-01-02"),
    NS(name="alpha", created="2024-01-03"),
    NS(name="charlie", created="2024-01-01"),
    NS(name="bravo", created="2024-01-02"),
    NS(name="echo", created="2024-01-03"),
]


def names(items):
    return [item.name for item in items]


@pytest.mark.parametrize("order, expected", [
    ([("name", False)], ["alpha", "bravo", "charlie", "delta", "echo"]),
    ([("name", True)], ["echo", "delta", "charlie", "bravo", "alpha"]),
    ([("created", False)], ["charlie", "bravo", "delta", "alpha", "echo"]),
    ([("created", True)], ["alpha", "echo", "bravo", "delta", "charlie"]),
    ([("created", True), ("name", True)], ["echo", "alpha", "delta", "bravo", "charlie"]),
    ([("created", False), ("name", True)], ["charlie", "delta", "bravo", "echo", "alpha"]),
    ([], ["alpha", "bravo", "charlie", "delta", "echo"]),
])
def test_sort_multi_key(order, expected):
    assert names(sort_records(RECORDS, order, key_of, tie="name")) == expected


@pytest.mark.parametrize("descending", [False, True])
def test_sort_ties_broken_by_tie_field_ascending(descending):
    items = [NS(name="c", created="x"), NS(name="a", created="x"), NS(name="b", created="x")]
    result = sort_records(items, [("created", descending)], key_of, tie="name")
    assert names(result) == ["a", "b", "c"]


def test_sort_is_independent_of_input_order():
    forward = sort_records(RECORDS, [("created", True)], key_of, tie="name")
    backward = sort_records(list(reversed(RECORDS)), [("created", True)], key_of, tie="name")
    assert names(forward) == names(backward)


def test_sort_accepts_iterables_and_does_not_mutate():
    original = list(RECORDS)
    result = sort_records(iter(RECORDS), [("name", False)], key_of, tie="name")
    assert isinstance(result, list)
    assert len(result) == 5
    assert original == RECORDS


def test_sort_uses_key_of():
    items = [NS(name="b", n=2), NS(name="a", n=10), NS(name="c", n=1)]
    result = sort_records(items, [("n", False)], lambda item, f: getattr(item, f), tie="name")
    assert names(result) == ["c", "b", "a"]
    result = sort_records(items, [("n", False)], lambda item, f: str(getattr(item, f)), tie="name")
    assert names(result) == ["c", "a", "b"]  # "1" < "10" < "2"
