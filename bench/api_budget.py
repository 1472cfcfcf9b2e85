"""DynamoDB requests per API call, and listing 10,000 images against a raw scan (DESIGN budgets).

Starts the local stack in this process (DB-only mode), counts the DynamoDB requests the
emulator receives for each call, then times `GET /image?full=true` over 10,000 images against
a raw paginated Scan of the same table through boto3, interleaved, in the same run.

Every HTTP call has a timeout fit for its work (60 s for one image, 300 s for the 10,000-image
list); a call that times out is reported as `timeout`, never a crash.

Last lines: `ddb_requests_<call>: N` for each call and `list_ratio: X` (target ≤ 1.5).
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEVSTACK_STATE", "/tmp/imageapi-bench-state.json")

from datetime import UTC

import boto3  # noqa: E402
import requests  # noqa: E402

COUNT = {"n": 0}
LOCK = threading.Lock()
CALL_TIMEOUT = 60.0      # seconds: one image, or a list of a few
LIST_TIMEOUT = 300.0     # GET /image?full=true over 10,000 images on a slow, busy machine
LIST_SAMPLES = 5


class Api:
    """requests with the admin key, JSON bodies and an explicit timeout on every call."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"ES-API-KEY": key, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None, *,
             params: dict | None = None, timeout: float = CALL_TIMEOUT) -> requests.Response:
        return requests.request(method, f"{self.base_url}{path}/", headers=self.headers,
                                params=params, timeout=timeout,
                                data=None if body is None else json.dumps(body))


def count_dynamodb_requests() -> None:
    """Wrap the emulator's DynamoDB dispatch (it runs in this process)."""
    from moto.dynamodb.responses import DynamoHandler
    real = DynamoHandler.call_action

    def counted(self, *args, **kwargs):
        with LOCK:
            COUNT["n"] += 1
        return real(self, *args, **kwargs)

    DynamoHandler.call_action = counted


def measure(label: str, call: Callable[[], requests.Response]) -> int | str:
    """DynamoDB requests the call made; "timeout" when it did not answer in time, "http N"
    when it failed (reported, never a crash: a slow machine is no reason to lose the run)."""
    with LOCK:
        COUNT["n"] = 0
    try:
        response = call()
    except requests.RequestException as exc:
        return "timeout" if isinstance(exc, requests.Timeout) else type(exc).__name__
    if response.status_code >= 300:
        print(f"{label}: HTTP {response.status_code} {response.text[:200]}", file=sys.stderr)
        return f"http {response.status_code}"
    with LOCK:
        return COUNT["n"]


def delete_reads() -> str:
    """What the delete's in-use check reads: one Query of the image's uses, no Scan of VMs."""
    return ", ".join(f"{op} {where.split('-', 1)[-1]}: {n}"
                     for (op, where), n in sorted(LAST_DELETE.calls.items()))


LAST_DELETE: Any = None


def seed_images(prefix: str, n: int) -> None:
    """Write n image records straight into the table (fast set-up, not what is measured)."""
    from datetime import datetime

    from chalicelib.persistence.models import Image
    now = datetime.now(UTC)
    with Image.batch_write() as batch:
        for i in range(n):
            batch.save(Image(f"bulk-{i:05d}", uuid=f"00000000-0000-4000-8000-{i:012d}",
                             alias=f"bulk-{i:05d}", version="1", owner="admin", access=3,
                             desc="bulk", ostype=1, size=1024, tags=["a"], status=1,
                             created=now, dc_bound="main", dcs=["main"]))


def main() -> int:
    from devstack.stack import Stack, StackOptions
    from tests.support import Repository  # the tests' image repository

    stack = Stack(StackOptions(port=0, admin_key="bench-key", write_state=False,
                               image_server=False, env={"AUTH_CACHE_SECONDS": "60"})).start()
    count_dynamodb_requests()
    api = Api(stack.api_url, stack.admin_key)
    try:
        from pytest_httpserver import HTTPServer
        server = HTTPServer(host="127.0.0.1")
        server.start()
        repo = Repository(server)
        api.call("GET", "/ping")
        api.call("GET", "/image")  # warms the per-container auth cache, like a warm Lambda
        full = {"full": "true"}

        figures = {
            "import": measure("import", lambda: api.call("POST", "/image/b1", {
                "manifest_url": repo.publish(repo.manifest()), "dc": "main"})),
            "get_image": measure("get", lambda: api.call("GET", "/image/b1")),
            "update": measure("update", lambda: api.call("PUT", "/image/b1", {"desc": "x"})),
            "list_small": measure("list", lambda: api.call("GET", "/image", params=full)),
        }
        from devstack import ddb_meter
        global LAST_DELETE
        with ddb_meter.window() as LAST_DELETE:
            figures["delete"] = measure("delete", lambda: api.call("DELETE", "/image/b1", {}))
        server.stop()

        seed_images(stack.options.table_prefix, 10_000)
        figures["list_10000"] = measure("list", lambda: api.call(
            "GET", "/image", params=full, timeout=LIST_TIMEOUT))
        ddb = boto3.client("dynamodb")
        table = f"{stack.options.table_prefix}-images"
        raw_pages = sum(1 for _ in ddb.get_paginator("scan").paginate(TableName=table))

        def raw_scan() -> float:
            start = time.perf_counter()
            items = [item for page in ddb.get_paginator("scan").paginate(TableName=table)
                     for item in page["Items"]]
            assert len(items) == 10_000
            return time.perf_counter() - start

        def api_list() -> float | None:
            """Seconds, or None when the list did not come (in time, or at all)."""
            start = time.perf_counter()
            try:
                response = api.call("GET", "/image", params=full, timeout=LIST_TIMEOUT)
            except requests.RequestException:
                return None
            if response.status_code != 200:
                print(f"list: HTTP {response.status_code} {response.text[:200]}", file=sys.stderr)
                return None
            assert len(response.json()["result"]) == 10_000
            return time.perf_counter() - start

        api_times: list[float | None] = []
        raw_times: list[float] = []
        for _ in range(LIST_SAMPLES):
            raw_times.append(raw_scan())
            api_times.append(api_list())
    finally:
        stack.stop()

    print(f"raw_scan_pages_10000: {raw_pages}")
    print("list_10000_api_samples_s: " + " ".join(
        "timeout" if t is None else f"{t:.3f}" for t in api_times))
    print("list_10000_raw_scan_samples_s: " + " ".join(f"{t:.3f}" for t in raw_times))
    answered = [t for t in api_times if t is not None]
    raw_median = statistics.median(raw_times)
    api_median = statistics.median(answered) if answered else None
    print("list_10000_api_median_s: " + (f"{api_median:.3f}" if api_median is not None
                                          else f"timeout (> {LIST_TIMEOUT:.0f} s)"))
    print(f"list_10000_raw_scan_median_s: {raw_median:.3f}")
    print(f"list_10000_api_timeouts: {len(api_times) - len(answered)} of {LIST_SAMPLES}")
    for name, value in figures.items():
        print(f"ddb_requests_{name}: {value}")
    if LAST_DELETE is not None:
        print(f"delete_reads: {delete_reads()}")
    print("list_ratio: " + (f"{api_median / raw_median:.2f}" if api_median is not None
                            else "n/a (every list timed out)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
