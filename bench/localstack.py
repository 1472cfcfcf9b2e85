"""The local stack for benchmarks (devstack.process): image server on, a folder of the bench's
own (so a developer's `.devstack/` is never read or written), started empty, the scheduled
cleanup out of the way. `start_stack` also reads the state file (API and emulator addresses,
table prefix, bucket) and counts tracebacks in the stack's output."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.process import LOOPBACK, StackError, StackProcess  # noqa: E402

__all__ = ["LOOPBACK", "ROOT", "BenchStack", "StackError", "start_stack", "stop_stack"]
READY_TIMEOUT = 180.0   # a slow, busy machine
STOP_TIMEOUT = 20.0


@dataclass
class BenchStack(StackProcess):
    state: dict[str, Any] | None = None   # the state file: api_url, emulator_url, table_prefix

    @property
    def tracebacks(self) -> int:
        return sum(line.startswith("Traceback") for line in self.output)


def start_stack(folder: Path, admin_key: str, log_path: Path | None = None,
                **settings: str) -> BenchStack:
    """Start it in `folder` (an empty directory) and wait until it is ready."""
    stack = BenchStack.start(folder, ready_timeout=READY_TIMEOUT, IMAGE_SERVER="on",
                             IMAGE_API_ADMIN_KEY=admin_key, IMAGE_API_FRESH="1",
                             CLEANUP_INTERVAL_SECONDS="86400", **settings)
    stack.state = json.loads(stack.state_file.read_text())
    if log_path is not None:
        log_path.write_text(stack.log(10_000))
    return stack


def stop_stack(stack: BenchStack, log_path: Path | None = None) -> None:
    stack.stop(STOP_TIMEOUT)
    if log_path is not None:
        log_path.write_text("".join(stack.output))
