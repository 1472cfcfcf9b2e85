"""`order_by` parsing (comma list, `-` for descending, `+` ignored) and stable sorting."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chalicelib.domain import errors
from chalicelib.domain.http_texts import invalid_order_by


def parse_order_by(raw: Any, allowed: Sequence[str], default: str) -> list[tuple[str, bool]]:
    """Returns [(field, descending)]; anything unknown is a 412 naming the allowed fields."""
    text = default if raw is None or raw == "" else raw
    if not isinstance(text, str):
        raise _invalid(allowed)
    result = []
    for part in text.split(","):
        part = part.strip()
        descending = part.startswith("-")
        name = part[1:] if part[:1] in ("+", "-") else part  # exactly one prefix character
        if name not in allowed:
            raise _invalid(allowed)
        result.append((name, descending))
    return result


def _invalid(allowed: Sequence[str]) -> errors.InvalidParameter:
    return errors.InvalidParameter(invalid_order_by(allowed))


def sort_records(items: Iterable[Any], order: list[tuple[str, bool]],
                 key_of: Callable[[Any, str], Any], tie: str) -> list[Any]:
    """Stable multi-key sort; `tie` (a unique field) makes the order total, for cursors."""
    result = sorted(items, key=lambda item: key_of(item, tie))
    for name, descending in reversed(order):
        result.sort(key=functools.partial(_field_key, key_of, name), reverse=descending)
    return result


def _field_key(key_of: Callable[[Any, str], Any], name: str, item: Any) -> Any:
    return key_of(item, name)
