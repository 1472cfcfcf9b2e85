"""The local stack as `make run` runs it: a `python -m devstack` subprocess on free ports.

Shared by the end-to-end tests. `start_stack` waits for its "Ready." line; `stop_stack` sends
Ctrl-C (SIGINT) and reports what a clean stop must guarantee (prompt exit, exit code 0, both
ports free, the state file removed).
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import Api, wait_for

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60
STOP_TIMEOUT = 30
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


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
    drop = {"AUTH_CACHE_SECONDS", "PORT", "EMULATOR_PORT", "PLATFORM_EVENT_SOURCE", "LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k not in drop}
    # Never route loopback traffic through a proxy configured in the environment.
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name, ""), "127.0.0.1", "localhost"]))
    env.update(extra)
    return env


@dataclass
class RunningStack:
    process: subprocess.Popen
    port: int
    emulator_port: int
    admin_key: str
    directory: Path
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None   # copies the output; ends when the stack does

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/api"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def api(self, key: str | None) -> Api:
        return Api(self.api_url, key)

    def log(self) -> str:
        return "".join(self.output[-200:])


def start_stack(directory: Path, **extra_env: str) -> RunningStack:
    """Start the stack with its files in `directory`; `IMAGE_API_ADMIN_KEY` may be given."""
    port, emulator_port = free_port(), free_port()
    while emulator_port == port:
        emulator_port = free_port()
    env = clean_env(PORT=str(port), EMULATOR_PORT=str(emulator_port),
                    DEVSTACK_DIR=str(directory), IMAGE_SOURCE_ALLOW_LOOPBACK="true",
                    AUTH_CACHE_SECONDS="0", PYTHONUNBUFFERED="1", **extra_env)
    process = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    stack = RunningStack(process, port, emulator_port, extra_env.get("IMAGE_API_ADMIN_KEY", ""),
                         directory)
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            stack.output.append(line)
            if line.startswith("Ready."):
                ready.set()

    stack.reader = threading.Thread(target=read, daemon=True)
    stack.reader.start()
    try:
        wait_for(lambda: ready.is_set() or process.poll() is not None, READY_TIMEOUT)
    except AssertionError:
        stop_stack(stack)
        raise AssertionError(f"the stack was not ready within {READY_TIMEOUT} s:\n"
                             f"{stack.log()}") from None
    if not ready.is_set():
        stack.reader.join(5)  # the last lines tell why
        raise AssertionError(f"the stack exited ({process.returncode}) before it was "
                             f"ready:\n{stack.log()}")
    if not stack.admin_key:
        stack.admin_key = (directory / "admin-key").read_text().strip()
    return stack


def stop_stack(stack: RunningStack) -> list[str]:
    """Ctrl-C, then what went wrong with the stop (empty when it was clean)."""
    process = stack.process
    problems = []
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            problems.append(f"Ctrl-C did not stop the stack within {STOP_TIMEOUT} s")
            os.killpg(process.pid, signal.SIGKILL)  # the group of the process we started
            process.wait(10)
    if stack.reader:
        stack.reader.join(5)  # it ends at the end of the output: all lines are in
    if process.returncode != 0:
        problems.append(f"exit code {process.returncode}")
    if "Stopped." not in "".join(stack.output):
        problems.append("no 'Stopped.' line")
    for port in (stack.port, stack.emulator_port):
        if not port_is_free(port):
            problems.append(f"port {port} still in use after Ctrl-C")
    if stack.state_file.exists():
        problems.append("the state file was left behind after Ctrl-C")
    return problems


def kill_stack(stack: RunningStack) -> None:
    """`kill -9`: no clean stop, no last save."""
    os.killpg(stack.process.pid, signal.SIGKILL)
    stack.process.wait(10)


def imagectl(stack: RunningStack, *args: str, ok: bool = True,
             stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(ROOT / "imagectl"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, input=stdin,
                          env=clean_env(DEVSTACK_DIR=str(stack.directory)))
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


def wait_raw(api: Api, task_id: str, timeout: float = 60) -> dict:
    """Poll a task like a client until it ends; returns the final body."""
    return wait_for(lambda: api.get(f"/task/{task_id}/status"), timeout, 0.2,
                    until=lambda r: r.status_code != 201,
                    message=f"task {task_id} did not end").json()
