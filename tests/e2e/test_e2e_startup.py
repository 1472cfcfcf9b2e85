"""Start-up problems a person can fix end with one line saying what to do, never a traceback."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.e2e.stack_process import LOOPBACK, ROOT, clean_env

pytestmark = pytest.mark.e2e


def start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devstack"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=clean_env(DEVSTACK_DIR=str(tmp_path), **env))


def test_a_busy_port_is_one_line_and_exit_1(tmp_path):
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start(tmp_path, PORT=str(port))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"port {port}" in proc.stderr and "PORT=" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_setting_that_is_not_a_number(tmp_path):
    proc = start(tmp_path, PORT="eighty")
    assert proc.returncode == 1
    assert proc.stderr.strip() == \
        "make run: PORT='eighty' is not a number; unset it or give a number"
