"""Cold-start cost of the Lambda package: `import app` against its bare dependencies.

Each sample is a fresh interpreter (like a new Lambda container) that times, with
time.perf_counter, only the import statement (interpreter start-up is excluded) and prints it.
Two kinds of samples are taken, interleaved:

  app       `import app` (the Chalice app and everything it imports at module level)
  baseline  `import chalice.app, pynamodb.models, pynamodb.attributes, requests, boto3`

The last line printed is `coldstart_ratio: X` = median(app) / median(baseline).
The environment is Lambda-like: a region and (dummy) credentials, no AWS endpoint, no
instance metadata; importing must not touch the network.

Usage: python bench/coldstart.py [--runs N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP_IMPORT = "import app"
BASELINE_IMPORT = "import chalice.app, pynamodb.models, pynamodb.attributes, requests, boto3"
SAMPLE_TIMEOUT = 120  # seconds for one fresh interpreter (an import takes well under 1 s)

CHILD = """\
import time
t0 = time.perf_counter()
{stmt}
t1 = time.perf_counter()
print("IMPORT_SECONDS", t1 - t0)
"""


def lambda_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MOTO_", "PYTHON", "IMAGE_"))}
    env.update({
        "PYTHONPATH": str(ROOT),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "imageapi-dev",
        "IMAGE_API_TABLE_PREFIX": "imageapi-dev",
    })
    return env


def sample(stmt: str, env: dict[str, str]) -> float:
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD.format(stmt=stmt)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=SAMPLE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"child did not finish within {SAMPLE_TIMEOUT} s ({stmt!r})") from None
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({stmt!r}):\n{proc.stderr}")
    for line in proc.stdout.splitlines():
        if line.startswith("IMPORT_SECONDS "):
            return float(line.split()[1])
    raise SystemExit(f"child printed no timing ({stmt!r}):\n{proc.stdout}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="samples of each kind (default 15)")
    args = parser.parse_args()
    env = lambda_env()

    # Warm-up (discarded): compiles .pyc files and fills the OS file cache for both kinds.
    sample(APP_IMPORT, env)
    sample(BASELINE_IMPORT, env)

    app_times: list[float] = []
    base_times: list[float] = []
    for i in range(args.runs):
        # Interleave, alternating which kind goes first, so drift affects both alike.
        order = [(APP_IMPORT, app_times), (BASELINE_IMPORT, base_times)]
        if i % 2:
            order.reverse()
        for stmt, bucket in order:
            bucket.append(sample(stmt, env))

    app_ms = statistics.median(app_times) * 1000
    base_ms = statistics.median(base_times) * 1000
    print(f"runs: {args.runs} of each kind, interleaved, python {sys.version.split()[0]}")
    print(f"app_import_median_ms: {app_ms:.1f}")
    print(f"baseline_import_median_ms: {base_ms:.1f}")
    print(f"coldstart_ratio: {app_ms / base_ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
