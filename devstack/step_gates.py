"""Hold the state machines' Lambda tasks of a stack running in another process, by files.

`<stack dir>/gates/<handler>.hold` (e.g. `step_finish.hold`) holds every invocation of that
step handler at its start: it first writes `<handler>.<task_id>.reached` next to it (so a test
knows the task is visibly in that step, without guessing with sleeps), then waits until the
`.hold` file is gone. The end-to-end crash test uses it to kill the stack while updates and
deletes are inside a step; nothing else creates the folder, so a normal stack never waits.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from devstack import layout

CHECK_SECONDS = 0.2   # how often a held step looks whether its gate opened
LONGEST_HOLD = 600.0  # a forgotten gate never holds a step for ever


def gates_dir() -> Path:
    return layout.stack_dir() / "gates"


def hold_file(directory: Path, handler: str) -> Path:
    return directory / f"{handler}.hold"


def reached_file(directory: Path, handler: str, task_id: str) -> Path:
    return directory / f"{handler}.{task_id}.reached"


def wait_at(handler: str, payload: Any) -> None:
    """Called by the Lambda dispatch before the handler runs."""
    directory = gates_dir()
    gate = hold_file(directory, handler)
    if not gate.exists():
        return
    task_id = payload.get("task_id") if isinstance(payload, dict) else None
    reached_file(directory, handler, str(task_id)).write_text("")
    opened = threading.Event()  # never set: only its timed wait is used
    waited = 0.0
    while gate.exists() and waited < LONGEST_HOLD:
        opened.wait(CHECK_SECONDS)
        waited += CHECK_SECONDS
