"""A Lambda cold start pays only for what the app uses at import: boto3 and requests load on
first use, `cryptography` with the first signature checked (bench/coldstart.py measures the
time; this keeps the rule from eroding)."""
from __future__ import annotations

import subprocess
import sys

from devstack.process import ROOT


def test_importing_the_app_loads_neither_boto3_nor_requests_nor_cryptography():
    code = ("import sys, app; print(sorted(m for m in ('boto3', 'requests', 'cryptography') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
