"""Coercion of es-tool style values (SPEC §1, §1.2, §3): chalicelib/domain/fields.py."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import fields as f
from chalicelib.domain.field_texts import (
    INVALID,
    REQUIRED,
    not_a_choice,
)
from chalicelib.domain.field_texts import (
    INVALID_VALUE as TAGS_INVALID,
)
from chalicelib.domain.field_texts import (
    WHOLE_NUMBER as WHOLE,
)
from chalicelib.domain.field_texts import (
    max_length as too_long,
)


@pytest.mark.parametrize("value, limit, expected", [
    ("abc", 3, None),
    ("", 0, None),
    ("abcd", 3, "Ensure this value has at most 3 characters (it has 4)."),
    ("x" * 33, 32, "Ensure this value has at most 32 characters (it has 33)."),
    ("x" * 200, 128, "Ensure this value has at most 128 characters (it has 200)."),
])
def test_max_length_error(value, limit, expected):
    assert f.max_length_error(value, limit) == expected


# --------------------------------------------------------------------------- booleans
@pytest.mark.parametrize("raw", ["true", "True", "TRUE", "t", "T", "1", True, 1])
def test_to_bool_true(raw):
    assert f.to_bool(raw) == (True, None)


@pytest.mark.parametrize("raw", ["false", "False", "FALSE", "f", "F", "0", False, 0])
def test_to_bool_false(raw):
    assert f.to_bool(raw) == (False, None)


@pytest.mark.parametrize("raw", [
    "yes", "no", "on", "off", "", " ", " true", "true ", "tRuE", "2", "-1", "null", "None",
    2, -1, None, [], {}, ["true"], {"true": True},
])
def test_to_bool_invalid(raw):
    assert f.to_bool(raw) == (None, INVALID)


@pytest.mark.parametrize("raw, expected", [
    ("true", True), ("True", True), ("TRUE", True), ("t", True), ("T", True), ("1", True),
    ("false", False), ("False", False), ("FALSE", False), ("f", False), ("F", False), ("0", False),
    (True, True), (False, False), (1, True), (0, False),
    # anything else: Python truthiness of the text (reference §1.1)
    ("", False), ("yes", True), ("no", True), ("anything", True),
])
def test_parse_bool_param(raw, expected):
    assert f.parse_bool_param(raw) is expected


# --------------------------------------------------------------------------- integers
@pytest.mark.parametrize("raw, expected", [
    (3, 3), (0, 0), (-7, -7), ("3", 3), ("0", 0), ("-5", -5), ("+7", 7), (" 42 ", 42),
    ("007", 7), (3.0, 3), (-2.0, -2), ("123456789012345678", 123456789012345678),
])
def test_to_int_valid(raw, expected):
    value, error = f.to_int(raw)
    assert (value, error) == (expected, None)
    assert type(value) is int


@pytest.mark.parametrize("raw", [
    True, False, "3.5", "3.0", "abc", "", " ", "1e3", "3a", "1,000", "- 3", "0x10",
    3.5, float("nan"), float("inf"), None, [], [3], {}, {"a": 1},
])
def test_to_int_invalid(raw):
    assert f.to_int(raw) == (None, WHOLE)


# --------------------------------------------------------------------------- plain text
@pytest.mark.parametrize("raw, expected", [
    ("abc", "abc"), ("", ""), (True, "true"), (False, "false"), (5, "5"), (-1, "-1"),
    (1.5, "1.5"),
])
def test_to_text_valid(raw, expected):
    assert f.to_text(raw) == (expected, None)


@pytest.mark.parametrize("raw", [None, [], ["a"], {}, {"a": "b"}])
def test_to_text_invalid(raw):
    assert f.to_text(raw) == (None, INVALID)


# --------------------------------------------------------------------------- safe text
FORBIDDEN = list("<>%$&;'\"")


@pytest.mark.parametrize("char", FORBIDDEN)
@pytest.mark.parametrize("limit, allow_empty", [(32, False), (16, False), (128, True)])
def test_safe_text_rejects_each_forbidden_character(char, limit, allow_empty):
    coerce = f.safe_text(limit, allow_empty=allow_empty)
    assert coerce(f"ab{char}cd") == (None, INVALID)
    assert coerce(char) == (None, INVALID)


@pytest.mark.parametrize("raw", [
    "centos-7",
    "Ubuntu 22.04 (LTS), x86_64 / amd64: ok!?#@*+=~^[]{}|\\`",
    "caf\u00e9 \u65e5\u672c",
])
def test_safe_text_allows_other_characters(raw):
    assert f.safe_text(128, allow_empty=True)(raw) == (raw, None)


@pytest.mark.parametrize("raw, expected", [
    ("  abc  ", "abc"), ("\tabc\n", "abc"), (3, "3"), (1.5, "1.5"), (True, "true"),
])
def test_safe_text_strips_and_converts(raw, expected):
    assert f.safe_text(32, allow_empty=False)(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["", " ", "\t\n "])
def test_safe_text_empty_required(raw):
    assert f.safe_text(32, allow_empty=False)(raw) == (None, REQUIRED)


@pytest.mark.parametrize("raw", ["", " ", "\t\n "])
def test_safe_text_empty_allowed(raw):
    assert f.safe_text(128, allow_empty=True)(raw) == ("", None)


@pytest.mark.parametrize("limit", [16, 32, 128])
def test_safe_text_length_limit(limit):
    coerce = f.safe_text(limit, allow_empty=False)
    assert coerce("x" * limit) == ("x" * limit, None)
    assert coerce("x" * (limit + 1)) == (None, too_long(limit, limit + 1))
    assert coerce("x" * (limit + 10)) == (None, too_long(limit, limit + 10))


def test_safe_text_length_counted_after_strip():
    assert f.safe_text(3, allow_empty=False)("  abc  ") == ("abc", None)


@pytest.mark.parametrize("raw", [None, [], ["a"], {}, {"a": 1}])
def test_safe_text_non_scalar(raw):
    assert f.safe_text(32, allow_empty=True)(raw) == (None, INVALID)


# --------------------------------------------------------------------------- choices
ACCESS = f.choice((1, 3, 4))


@pytest.mark.parametrize("raw, expected", [(1, 1), (3, 3), (4, 4), ("1", 1), ("3", 3), (" 4 ", 4),
                                           (3.0, 3)])
def test_choice_valid(raw, expected):
    assert ACCESS(raw) == (expected, None)


@pytest.mark.parametrize("raw, shown", [(2, 2), ("2", 2), (9, 9), ("9", 9), (0, 0), (-1, -1),
                                        ("+5", 5), (100, 100)])
def test_choice_not_available(raw, shown):
    assert ACCESS(raw) == (None, not_a_choice(shown))


def test_choice_message_text_exact():
    assert ACCESS(2) == (None, "Select a valid choice. 2 is not one of the available choices.")


@pytest.mark.parametrize("raw", ["x", "", "1.5", True, False, None, [], {}, 1.5])
def test_choice_not_a_number(raw):
    assert ACCESS(raw) == (None, WHOLE)


def test_choice_accepts_any_iterable_once():
    coerce = f.choice(iter([5, 6]))
    assert coerce(5) == (5, None)
    assert coerce("6") == (6, None)  # the iterator was materialised, not exhausted
    assert coerce(7) == (None, not_a_choice(7))


# --------------------------------------------------------------------------- tags
@pytest.mark.parametrize("raw, expected", [
    (["a", "b"], ["a", "b"]),
    ([], []),
    ("", []),
    ("   ", []),
    ("a", ["a"]),
    ("a,b", ["a", "b"]),
    ("a b", ["a", "b"]),
    ("a, b ,c", ["a", "b", "c"]),
    ("a,,b", ["a", "b"]),
    (",a,", ["a"]),
    ("a\tb\nc", ["a", "b", "c"]),
    (["a", "a", "b", "a"], ["a", "b"]),
    ("b,a,b", ["b", "a"]),
    ([" a ", "  "], ["a"]),
    (["x y"], ["x y"]),
    (["os:linux", "path/to", "A-Z_0-9"], ["os:linux", "path/to", "A-Z_0-9"]),
    ("os:linux,path/to", ["os:linux", "path/to"]),
    ("a tag, b", ["a tag", "b"]),
    ("web server,db", ["web server", "db"]),
    (["x" * 100], ["x" * 100]),
])
def test_to_tags_valid(raw, expected):
    assert f.to_tags(raw) == (expected, None)


@pytest.mark.parametrize("raw", [
    "a.b", "a;b", "a<b", "é", "tag!", "a,b.c",
    ["a.b"], ["a,b"], ["ok", "bad!"], ["é"], ["a@b"],
    ["a", 1], [None], [["a"]], [{"a": 1}], [True],
    5, 1.5, True, None, {}, {"a": "b"},
])
def test_to_tags_invalid(raw):
    assert f.to_tags(raw) == (None, TAGS_INVALID)


tag_word = st.from_regex(r"[:/A-Za-z0-9_-]{1,20}", fullmatch=True)


@settings(database=None, max_examples=200, deadline=None)
@given(st.lists(tag_word, max_size=8), st.sampled_from([",", " ", ", ", " ,", "\t"]))
def test_to_tags_string_split_roundtrip(words, sep):
    value, error = f.to_tags(sep.join(words))
    assert error is None
    assert value == list(dict.fromkeys(words))


# --------------------------------------------------------------------------- image names
@pytest.mark.parametrize("name", ["a", "A", "0", "centos-7", "a.b_c-d", "Z9.._--", "x" * 32,
                                  "1" * 32])
def test_image_name_valid(name):
    assert f.image_name_error(name) is None


@pytest.mark.parametrize("name", ["", "-abc", ".abc", "_abc", "a b", "a/b", "a@b", "a:b",
                                  "ä", "abc!", " abc", "a\nb"])
def test_image_name_bad_characters(name):
    assert f.image_name_error(name) == INVALID


@pytest.mark.parametrize("length", [33, 40, 100])
def test_image_name_too_long(length):
    assert f.image_name_error("n" * length) == too_long(32, length)


# --------------------------------------------------------------------------- properties
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=15,
)

COERCERS = {
    "to_bool": f.to_bool,
    "to_int": f.to_int,
    "to_text": f.to_text,
    "safe_text_alias": f.safe_text(32, allow_empty=False),
    "safe_text_version": f.safe_text(16, allow_empty=False),
    "safe_text_desc": f.safe_text(128, allow_empty=True),
    "choice_access": f.choice((1, 3, 4)),
    "to_tags": f.to_tags,
}


def assert_result_shape(result):
    assert isinstance(result, tuple) and len(result) == 2
    value, error = result
    if error is None:
        assert value is not None
    else:
        assert value is None
        assert isinstance(error, str) and error


@pytest.mark.parametrize("name", sorted(COERCERS))
def test_coercer_never_raises_on_json_like_input(name):
    coerce = COERCERS[name]

    @settings(database=None, max_examples=300, deadline=None)
    @given(json_like)
    def check(raw):
        assert_result_shape(coerce(raw))

    check()


@settings(database=None, max_examples=300, deadline=None)
@given(json_like)
def test_parse_bool_param_never_raises(raw):
    assert f.parse_bool_param(raw) in (True, False)


@settings(database=None, max_examples=300, deadline=None)
@given(st.text())
def test_image_name_error_never_raises(name):
    error = f.image_name_error(name)
    assert error is None or isinstance(error, str)
    if error is None:
        assert 1 <= len(name) <= 32


@settings(database=None, max_examples=300, deadline=None)
@given(st.integers(min_value=-(10 ** 17), max_value=10 ** 17))
def test_to_int_roundtrips_numeric_strings(n):
    assert f.to_int(str(n)) == (n, None)
    assert f.to_int(n) == (n, None)
