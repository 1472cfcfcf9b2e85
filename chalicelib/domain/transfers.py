"""What a transfer that spans several step runs knows and decides, apart from moving bytes:
how long a run may work, whether a source that cannot resume still fits one run, what the
task shows as progress, and the state kept in the task record between runs."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.domain.progress import of_bytes

# A run stops this long before its Lambda would be ended, whatever TRANSFER_STEP_SECONDS says
# (waiting for parts in flight and saving the checkpoint take a few seconds at most).
SAFETY_MARGIN_SECONDS = 60.0
MIN_RUN_SECONDS = 1.0


@dataclass(frozen=True)
class RunBudget:
    stop_after: float    # seconds: then stop at the next part boundary (a resumable source)
    hard_limit: float    # seconds: a run that cannot stop (no resumable source) must end by then


def run_budget(step_seconds: float, remaining_seconds: float) -> RunBudget:
    hard = max(remaining_seconds - SAFETY_MARGIN_SECONDS, MIN_RUN_SECONDS)
    return RunBudget(min(step_seconds, hard), hard)


def fits_one_run(size: int | None, done: int, rate: float | None, seconds_left: float) -> bool:
    """Whether the rest of a file (`size` - `done` bytes) can arrive in `seconds_left` at
    `rate` bytes/s. Unknown size or rate: assume it fits (the run finds out)."""
    if size is None or not rate:
        return True
    return (size - done) / rate <= seconds_left


@dataclass
class TransferState:
    """Kept in the task record between runs (never in the execution's payload)."""

    key: str | None = None                    # the store object being written
    checkpoint: dict[str, Any] | None = None  # the store side (adapters.transfer.Checkpoint)
    validator: str | None = None              # the source's ETag or Last-Modified (If-Range)
    resumable: bool = True                    # the source honours Range for this validator
    runs: int = 0                             # step runs so far
    seconds: float = 0.0                      # transfer time of the runs so far
    rate: float | None = None                 # bytes/s of the last run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TransferState:
        if not data:
            return cls()
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


def progress(step: str, done: int, total: int | None, rate: float | None,
             runs: int) -> dict[str, Any]:
    """What GET /task/<id> shows of a transfer: bytes, percent, rate, ETA, step runs."""
    eta = int((total - done) / rate) if total and rate and total >= done else None
    return {**of_bytes(step, done, total),
            "rate_bytes_per_second": int(rate) if rate else None, "eta_seconds": eta,
            "runs": runs}
