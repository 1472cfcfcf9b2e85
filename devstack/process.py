"""The local stack as `make run` runs it, in a child process: `python -m devstack` on free ports,
with its files in a folder of the caller's. Used by the end-to-end tests and the benchmarks.

`StackProcess.start` waits for the "Ready." line; `stop` is Ctrl-C (SIGINT), then SIGKILL to
the process group if it does not end in time; `kill` is `kill -9` (no last save).
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


class StackError(Exception):
    """The stack did not start; the message ends with what it printed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nobody listens on the port: connecting is refused and it can be bound again."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        if sock.connect_ex((LOOPBACK, port)) != errno.ECONNREFUSED:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that points at some other AWS or stack."""
    drop_prefixes = ("AWS_", "MOTO_", "IMAGE_", "DEVSTACK_")
    drop = {"AUTH_CACHE_SECONDS", "PORT", "EMULATOR_PORT", "PLATFORM_EVENT_SOURCE", "LOG_LEVEL",
            "CLEANUP_INTERVAL_SECONDS", "SAMPLE_REPO_PORT"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k not in drop}
    # Never route loopback traffic through a proxy configured in the environment.
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name, ""), LOOPBACK, "localhost"]))
    env.update(extra)
    return env


@dataclass
class StackProcess:
    process: subprocess.Popen[str]
    port: int
    emulator_port: int
    directory: Path
    output: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None      # copies the output; ends when the stack does

    @classmethod
    def start(cls, directory: Path, *, ready_timeout: float = 60, **env: str) -> StackProcess:
        """Start it with its files in `directory` and the given settings; wait until ready."""
        port, emulator_port = free_port(), free_port()
        while emulator_port == port:
            emulator_port = free_port()
        settings = clean_env(PORT=str(port), EMULATOR_PORT=str(emulator_port),
                             DEVSTACK_DIR=str(directory), IMAGE_SOURCE_ALLOW_LOOPBACK="true",
                             PYTHONUNBUFFERED="1", **{"SAMPLE_REPO_PORT": "0", **env})
        process = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=settings,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        stack = cls(process, port, emulator_port, directory)
        stack.reader = threading.Thread(target=stack._read, daemon=True)
        stack.reader.start()
        stack._wait_until_ready(ready_timeout)
        return stack

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/api"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def stored_admin_key(self) -> str:
        """The key the stack generated and stored (when IMAGE_API_ADMIN_KEY was not given)."""
        return (self.directory / "admin-key").read_text().strip()

    def log(self, lines: int = 200) -> str:
        return "".join(self.output[-lines:])

    def stop(self, timeout: float = 30) -> bool:
        """Ctrl-C; False when it had to be killed because it did not end within `timeout`."""
        in_time = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                in_time = False
                self.kill()
        if self.reader:
            self.reader.join(5)  # it ends at the end of the output: all lines are in
        return in_time

    def kill(self) -> None:
        """`kill -9` of the process group we started: no clean stop, no last save."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("Ready."):
                self.ready.set()

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                ended = self.process.poll() is not None
                self.stop()
                why = (f"exited ({self.process.returncode})" if ended
                       else f"was not ready within {timeout:.0f} s")
                raise StackError(f"the stack {why}:\n{self.log()}")
