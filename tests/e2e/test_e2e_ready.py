"""`make run` answers ping only once `./imagectl` works (issue 18.4): a script that waits for
ping may use imagectl at once; its banner says the sample repository is served (18.5)."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import requests

from devstack.process import StackProcess, free_port
from tests.e2e.stack_process import LOOPBACK, ROOT, clean_env, imagectl
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def test_imagectl_works_from_the_first_pong(tmp_path):
    port, emulator_port = free_port(), free_port()
    env = clean_env(PORT=str(port), EMULATOR_PORT=str(emulator_port), DEVSTACK_DIR=str(tmp_path),
                    SAMPLE_REPO_PORT="0", AUTH_CACHE_SECONDS="0", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    stack = StackProcess(process, port, emulator_port, tmp_path)
    stack.reader = threading.Thread(target=stack._read, daemon=True)
    stack.reader.start()
    try:
        def pong() -> bool:  # as a script waits: ping until pong
            assert process.poll() is None, stack.log()  # a stack that died ends the wait
            try:
                return requests.get(f"http://{LOOPBACK}:{port}/api/ping/", timeout=5).ok
            except requests.ConnectionError:
                return False

        wait_for(pong, timeout=60, interval=0.01, message=lambda _: stack.log())
        assert stack.state_file.exists()
        listed = imagectl(stack, "dc", "list", ok=False)  # type: ignore[arg-type]
        assert listed.returncode == 0 and "main" in listed.stdout, listed.stderr
        stack._wait_until_ready(60)
        line = next(line for line in stack.output if line.startswith("Sample repo:"))
        assert "(serving the images below; `SAMPLE_REPO_PORT=off make run` starts without it)" \
            in line and "SAMPLE_REPO_PORT=off:" not in line
    finally:
        stack.stop()
