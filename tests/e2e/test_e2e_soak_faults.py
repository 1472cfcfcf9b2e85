"""A short soak (bench/soak.py: 4 clients for 5 s) under `DEVSTACK_FAULTS=0.05`: AWS's
transient errors are injected and survived, and every invariant of the soak holds."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.e2e.stack_process import ROOT, clean_env

pytestmark = pytest.mark.e2e


def test_a_short_soak_under_aws_faults_keeps_every_invariant():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--clients", "4", "--seconds", "5",
         "--seed", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=clean_env(DEVSTACK_FAULTS="0.05", DEVSTACK_FAULTS_SEED="15"))
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    injected = re.search(r"^faults_injected: (\d+) of (\d+) requests$", report, re.M)
    assert injected and int(injected.group(1)) > 0, report
    assert re.search(r"^soak_violations: 0$", report, re.M), report
    assert "stack tracebacks: 0" in report, report
