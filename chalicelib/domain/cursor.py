"""Opaque paging cursors: JSON in URL-safe base64. A cursor that was not made here (or was
made for another listing) is a 400 `cursor: Invalid value.`, never a server error."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import field_error
from chalicelib.domain.field_texts import INVALID_VALUE

MAX_LENGTH = 2048


def encode(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, valid: Callable[[Any], bool]) -> Any:
    """The value `encode` made, if `valid(value)` accepts it; else ValidationFailed."""
    try:
        if not isinstance(text, str) or len(text) > MAX_LENGTH:
            raise ValueError(text)
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if valid(value):
            return value
    except (ValueError, binascii.Error, RecursionError, UnicodeDecodeError):
        pass
    raise field_error("cursor", INVALID_VALUE)
