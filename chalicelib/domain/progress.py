"""The `progress` a running task shows (GET /task/<id>, SPEC §4.8): one shape for every
builder (queued, a step's bytes, a transfer's rate, the end)."""
from __future__ import annotations

from typing import Any

from chalicelib.domain.vocabulary import DONE_STEP, QUEUED_STEP


def of_bytes(step: str, done: int, total: int | None) -> dict[str, Any]:
    """A step's bytes; the percentage never passes 100 (a file may grow past its stated size
    before the check that fails it)."""
    percent = min(100, int(done * 100 / total)) if total else None
    return {"step": step, "bytes_done": done, "bytes_total": total, "percent": percent}


def queued() -> dict[str, Any]:
    return {**of_bytes(QUEUED_STEP, 0, None), "percent": 0}


def finished(last: dict[str, Any] | None) -> dict[str, Any]:
    """A success is complete: 100% of the step it reported last ("download 100%"), or
    "done 100%" when it reported none (an update or a delete moves no bytes and would still
    say "queued 0%")."""
    last = last or {}
    step = last.get("step") if last.get("step") not in (None, QUEUED_STEP) else DONE_STEP
    return {**last, "step": step, "percent": 100}
