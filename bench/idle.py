"""Idle CPU of the local stack: what `make run` costs while nobody uses it.

Starts `python -m devstack` as `make run` does (image server on, a free port, an empty
temporary folder for its state and data), waits for its "Ready." line, then reads the CPU time
(utime + stime, from /proc/<pid>/stat) of the stack process and of all its descendants, plus
what its reaped children used (cutime + cstime), at the start and the end of --seconds.
The stack is always stopped (Ctrl-C, then SIGKILL) afterwards.

Last line: `idle_cpu_percent: X` (percent of one core; target < 2). Linux only (/proc).

Usage: .venv/bin/python bench/idle.py [--seconds 30]
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

from localstack import StackError, start_stack, stop_stack

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def cpu_seconds(pid: int) -> float:
    """CPU time of the process, its live descendants and its reaped children."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    own = sum(int(value) for value in fields[11:15]) / TICKS  # utime stime cutime cstime
    return own + sum(cpu_seconds(child) for child in _children(pid))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="measured window (30)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the stack

    with tempfile.TemporaryDirectory(prefix="imageapi-idle-") as folder:
        try:
            stack = start_stack(Path(folder), secrets.token_urlsafe(30))
        except StackError as exc:
            print(exc, file=sys.stderr)
            return 1
        try:
            pid = stack.process.pid
            cpu_before, started = cpu_seconds(pid), time.monotonic()
            time.sleep(args.seconds)
            cpu_used, elapsed = cpu_seconds(pid) - cpu_before, time.monotonic() - started
            alive = stack.process.poll() is None
        finally:
            stop_stack(stack)
    if not alive:
        print("the stack exited during the measurement:\n" + "".join(stack.output),
              file=sys.stderr)
        return 1
    print(f"idle window: {elapsed:.1f} s after Ready, stack CPU {cpu_used:.2f} s")
    print(f"idle_cpu_percent: {cpu_used / elapsed * 100:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
