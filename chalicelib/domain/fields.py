"""Field coercion and validation with the texts Danube Cloud clients know.

The `es` tool sends every value as a string ("3", "true", "a,b"), so each coercer accepts
both the JSON type and its string spelling. Every function returns `(value, error)`: the
coerced value or `None`, and an error text or `None`. Nothing here raises on user input.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.domain.field_texts import (
    BLANK,
    INVALID,
    INVALID_VALUE,
    REQUIRED,
    WHOLE_NUMBER,
    max_length,
    not_a_choice,
    too_many_items,
)
from chalicelib.domain.limits import MAX_TAG_CHARS, MAX_TAGS, MAX_USERNAME_CHARS

TRUE_WORDS = frozenset(("true", "True", "TRUE", "t", "T", "1"))
FALSE_WORDS = frozenset(("false", "False", "FALSE", "f", "F", "0"))

# Characters refused in alias/version/desc (they end up in shell commands and HTML elsewhere)
# (none is special inside a character class; the OpenAPI document shows SAFE_TEXT_RE as is)
UNSAFE_CHARS = "<>%$&;'\""
UNSAFE_RE = re.compile(f"[{UNSAFE_CHARS}]")
SAFE_TEXT_RE = re.compile(f"^[^{UNSAFE_CHARS}]*$")
# ...and control, zero-width and bidi-override characters (a NUL, a terminal escape, text
# that reads differently from how it is stored)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
CONTROL_RUN_RE = re.compile(CONTROL_RE.pattern + "+")  # a run of them, shown as one blank
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TAG_RE = re.compile(r"^[ :/A-Za-z0-9_-]+$")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Result = tuple[Any, "str | None"]
Coercer = Callable[[Any], Result]


def max_length_error(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return max_length(limit, len(value))
    return None


def parse_bool_param(raw: Any) -> bool:
    """Query-string flags (`full`, `extended`): the usual spellings, else Python truthiness."""
    if isinstance(raw, bool):
        return raw
    text = str(raw)
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return bool(text)


def to_bool(raw: Any) -> Result:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw), None
    if isinstance(raw, str):
        if raw in TRUE_WORDS:
            return True, None
        if raw in FALSE_WORDS:
            return False, None
    return None, INVALID


# At most 18 digits, spelled as a number or a string alike: no field needs more, and DynamoDB
# refuses a number of more than 38 significant digits or past 1E+125 (the emulator does not).
_MAX_INT_DIGITS = 18
_INT_BOUND = 10 ** _MAX_INT_DIGITS


def to_int(raw: Any) -> Result:
    if isinstance(raw, bool):
        return None, WHOLE_NUMBER
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int):
        return (raw, None) if -_INT_BOUND < raw < _INT_BOUND else (None, WHOLE_NUMBER)
    if isinstance(raw, str) and re.fullmatch(rf"\s*[-+]?\d{{1,{_MAX_INT_DIGITS}}}\s*", raw):
        return int(raw), None
    return None, WHOLE_NUMBER


def to_text(raw: Any) -> Result:
    if isinstance(raw, bool):
        return ("true" if raw else "false"), None
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, (int, float)):
        return str(raw), None
    return None, INVALID


def safe_text(limit: int, *, allow_empty: bool) -> Coercer:
    """alias/version/desc: no shell/HTML metacharacters, bounded length."""

    def coerce(raw: Any) -> Result:
        value, error = to_text(raw)
        if error:
            return None, error
        value = value.strip()
        if not value and not allow_empty:
            return None, REQUIRED
        error = max_length_error(value, limit)
        if error:
            return None, error
        if not SAFE_TEXT_RE.match(value) or CONTROL_RE.search(value):
            return None, INVALID
        return value, None

    return coerce


def to_username(raw: Any) -> Result:
    """`owner`: a user's name (whether that user exists is checked where users are)."""
    value, error = to_text(raw)
    if error:
        return None, error
    value = value.strip()
    if not value:
        return None, BLANK
    error = max_length_error(value, MAX_USERNAME_CHARS)
    if error:
        return None, error
    if CONTROL_RE.search(value):
        return None, INVALID
    return value, None


def choice(options: Iterable[int]) -> Coercer:
    allowed = tuple(options)

    def coerce(raw: Any) -> Result:
        value, error = to_int(raw)
        if error:
            return None, error
        if value not in allowed:
            return None, not_a_choice(value)
        return value, None

    return coerce


def to_tags(raw: Any) -> Result:
    """A list of strings, or one string in taggit syntax."""
    if isinstance(raw, str):
        # taggit: with a comma present, commas separate (so tags may hold spaces); else blanks
        parts = raw.split(",") if "," in raw else raw.split()
        items = [part.strip() for part in parts if part.strip()]
    elif isinstance(raw, list):
        if not all(isinstance(item, str) for item in raw):
            return None, INVALID_VALUE
        items = [item.strip() for item in raw if item.strip()]
    else:
        return None, INVALID_VALUE
    if len(items) > MAX_TAGS:
        return None, too_many_items(MAX_TAGS)
    if not all(TAG_RE.match(item) and len(item) <= MAX_TAG_CHARS for item in items):
        return None, INVALID_VALUE
    # keep the first occurrence of each tag, in order
    return list(dict.fromkeys(items)), None


def is_uuid(text: Any) -> bool:
    """A UUID in its canonical lower-case form (callers lower-case what may come upper-case)."""
    return isinstance(text, str) and UUID_RE.fullmatch(text) is not None


def image_name_error(name: str) -> str | None:
    error = max_length_error(name, 32)
    if error:
        return error
    if not NAME_RE.match(name):
        return INVALID
    return None
