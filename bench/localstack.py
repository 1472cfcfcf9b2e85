"""The local stack as `make run` starts it, for benchmarks: a `python -m devstack` subprocess.

Its folder (state file, saved data, admin key) is a directory the caller owns, and it starts
empty, so a developer's `.devstack/` is never read or written. `start_stack` waits for the
"Ready." line and reads the state file (API and emulator addresses, table prefix, bucket);
`stop_stack` sends Ctrl-C, then SIGKILL to the process group if it does not stop in time.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 180.0   # a slow, busy machine
STOP_TIMEOUT = 20.0


class StackError(Exception):
    """The stack did not start."""


@dataclass
class StackProcess:
    process: subprocess.Popen
    state: dict[str, Any]                 # the state file: api_url, emulator_url, table_prefix…
    output: collections.deque             # its last lines
    tracebacks: int = 0
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def api_url(self) -> str:
        return self.state["api_url"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def stack_env(folder: Path, admin_key: str, **settings: str) -> dict[str, str]:
    """The caller's environment minus anything naming some other AWS, stack or state."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MOTO_", "IMAGE_", "DEVSTACK_"))
           and k not in ("PORT", "EMULATOR_PORT", "CLEANUP_INTERVAL_SECONDS", "LOG_LEVEL",
                         "AUTH_CACHE_SECONDS")}
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name, ""), LOOPBACK, "localhost"]))
    env.update(PORT=str(free_port()), IMAGE_SERVER="on", IMAGE_API_ADMIN_KEY=admin_key,
               DEVSTACK_DIR=str(folder), DEVSTACK_STATE=str(folder / "state.json"),
               IMAGE_API_FRESH="1", IMAGE_SOURCE_ALLOW_LOOPBACK="true",
               CLEANUP_INTERVAL_SECONDS="86400", PYTHONUNBUFFERED="1", **settings)
    return env


def start_stack(folder: Path, admin_key: str, log_path: Path | None = None,
                **settings: str) -> StackProcess:
    """Start it in `folder` (an empty directory) and wait until it is ready."""
    process = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT,
                               env=stack_env(folder, admin_key, **settings),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    stack = StackProcess(process, {}, collections.deque(maxlen=200))
    threading.Thread(target=_read_output, args=(stack, log_path), daemon=True).start()
    try:
        _wait_until_ready(stack)
        stack.state = json.loads((folder / "state.json").read_text())
    except BaseException:  # not ready in time, or Ctrl-C meanwhile: nothing is left running
        stop_stack(stack)
        raise
    return stack


def _wait_until_ready(stack: StackProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not stack.ready.wait(0.2):
        if stack.process.poll() is not None or time.monotonic() > deadline:
            raise StackError("the stack did not become ready:\n" + "".join(stack.output))


def _read_output(stack: StackProcess, log_path: Path | None) -> None:
    with open(log_path or os.devnull, "w") as log:
        for line in stack.process.stdout:
            stack.output.append(line)
            log.write(line)
            if line.startswith("Traceback"):
                stack.tracebacks += 1
            if line.startswith("Ready."):
                stack.ready.set()


def stop_stack(stack: StackProcess) -> None:
    """Ctrl-C, then SIGKILL for the process group we started if it does not stop in time."""
    if stack.process.poll() is not None:
        return
    stack.process.send_signal(signal.SIGINT)
    try:
        stack.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait(10)
