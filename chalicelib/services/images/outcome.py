"""What an image operation hands its view to render."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """The result, the DC the request ended in (the `es_dc` header), extra headers."""

    result: Any
    dc: str
    task_id: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pending: bool = False          # an async task was started: 201 PENDING
