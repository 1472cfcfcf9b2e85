"""The local stack as `make run` runs it (devstack.process), for the end-to-end tests: started
in a folder of the test's, used over HTTP and through `./imagectl`, and stopped with Ctrl-C,
after which `stop_stack` reports what a clean stop must guarantee (prompt exit, exit code 0,
its ports free (API, emulator, sample repository), the state file removed).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.process import LOOPBACK, ROOT, StackError, StackProcess, clean_env, port_is_free
from tests.support import Api, wait_for

__all__ = ["LOOPBACK", "ROOT", "RunningStack", "clean_env", "imagectl", "kill_stack",
           "last_line", "start_stack", "stop_stack", "wait_raw"]
STOP_TIMEOUT = 30


@dataclass
class RunningStack(StackProcess):
    admin_key: str = ""

    def api(self, key: str | None) -> Api:
        return Api(self.api_url, key)

    def sample_images(self) -> list[tuple[str, str]]:
        """(manifest URL, manifest name) of each `Sample image:` line printed at start-up."""
        return [(fields[2], fields[3]) for fields in
                (line.split() for line in self.output if line.startswith("Sample image: "))]

    @property
    def sample_repo_port(self) -> int | None:
        """The sample repository's port, from the `Sample repo:` line (None: not served)."""
        for line in self.output:
            match = re.match(r"Sample repo: +http://[^:]+:(\d+)/", line)
            if match:
                return int(match.group(1))
        return None


def start_stack(directory: Path, **extra_env: str) -> RunningStack:
    """Start the stack with its files in `directory`; `IMAGE_API_ADMIN_KEY` may be given."""
    # the sample repository on a free port too (its default, 8001, may be a developer's)
    extra_env.setdefault("SAMPLE_REPO_PORT", "0")
    try:
        stack = RunningStack.start(directory, AUTH_CACHE_SECONDS="0", **extra_env)
    except StackError as exc:
        raise AssertionError(str(exc)) from None
    stack.admin_key = extra_env.get("IMAGE_API_ADMIN_KEY") or stack.stored_admin_key()
    return stack


def stop_stack(stack: RunningStack) -> list[str]:
    """Ctrl-C, then what went wrong with the stop (empty when it was clean)."""
    problems = []
    if not stack.stop(STOP_TIMEOUT):
        problems.append(f"Ctrl-C did not stop the stack within {STOP_TIMEOUT} s")
    if stack.process.returncode != 0:
        problems.append(f"exit code {stack.process.returncode}")
    if "Stopped." not in "".join(stack.output):
        problems.append("no 'Stopped.' line")
    sample_port = stack.sample_repo_port
    for port in (stack.port, stack.emulator_port, *([sample_port] if sample_port else [])):
        if not port_is_free(port):
            problems.append(f"port {port} still in use after Ctrl-C")
    if stack.state_file.exists():
        problems.append("the state file was left behind after Ctrl-C")
    return problems


def kill_stack(stack: RunningStack) -> None:
    """`kill -9`: no clean stop, no last save."""
    stack.kill()


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
