"""DynamoDB requests per API call, and listing 10,000 images against a raw scan (DESIGN budgets).

Starts the local stack in this process (DB-only mode), counts the DynamoDB requests the
emulator receives for each call, then times `GET /image?full=true` over 10,000 images against
a raw paginated Scan of the same table through boto3, interleaved, in the same run.

Last lines: `ddb_requests_<call>: N` for each call and `list_ratio: X` (target ≤ 1.5).
"""
from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEVSTACK_STATE", "/tmp/imageapi-bench-state.json")

import boto3  # noqa: E402
import requests  # noqa: E402

COUNT = {"n": 0}
LOCK = threading.Lock()


def count_dynamodb_requests() -> None:
    """Wrap the emulator's DynamoDB dispatch (it runs in this process)."""
    from moto.dynamodb.responses import DynamoHandler
    real = DynamoHandler.call_action

    def counted(self, *args, **kwargs):
        with LOCK:
            COUNT["n"] += 1
        return real(self, *args, **kwargs)

    DynamoHandler.call_action = counted


def measure(label: str, call) -> int:
    with LOCK:
        COUNT["n"] = 0
    response = call()
    assert response.status_code < 300, (label, response.status_code, response.text)
    with LOCK:
        return COUNT["n"]


def seed_images(prefix: str, n: int) -> None:
    """Write n image records straight into the table (fast set-up, not what is measured)."""
    from datetime import datetime, timezone

    from chalicelib.models import Image
    now = datetime.now(timezone.utc)
    with Image.batch_write() as batch:
        for i in range(n):
            batch.save(Image(f"bulk-{i:05d}", uuid=f"00000000-0000-4000-8000-{i:012d}",
                             alias=f"bulk-{i:05d}", version="1", owner="admin", access=3,
                             desc="bulk", ostype=1, size=1024, tags=["a"], status=1,
                             created=now, dc_bound="main", dcs=["main"]))


def main() -> int:
    from devstack.stack import Stack, StackOptions
    from tests.support import Api, Repository  # the same helpers the tests use

    stack = Stack(StackOptions(port=0, admin_key="bench-key", write_state=False,
                               image_server=False, env={"AUTH_CACHE_SECONDS": "60"})).start()
    count_dynamodb_requests()
    api = Api(stack.api_url, stack.admin_key)
    try:
        from pytest_httpserver import HTTPServer
        server = HTTPServer(host="127.0.0.1")
        server.start()
        repo = Repository(server)
        api.get("/ping")
        api.get("/image")  # warms the per-container auth cache, like a warm Lambda

        figures = {
            "import": measure("import", lambda: api.post("/image/b1", {
                "manifest_url": repo.publish(repo.manifest()), "dc": "main"})),
            "get_image": measure("get", lambda: api.get("/image/b1")),
            "update": measure("update", lambda: api.put("/image/b1", {"desc": "x"})),
            "list_small": measure("list", lambda: api.get("/image", params={"full": "true"})),
            "delete": measure("delete", lambda: api.delete("/image/b1")),
        }
        server.stop()

        seed_images(stack.options.table_prefix, 10_000)
        figures["list_10000"] = measure("list", lambda: api.get("/image",
                                                                 params={"full": "true"}))
        ddb = boto3.client("dynamodb")
        table = f"{stack.options.table_prefix}-images"
        raw_pages = sum(1 for _ in ddb.get_paginator("scan").paginate(TableName=table))

        def raw_scan() -> float:
            start = time.perf_counter()
            items = [item for page in ddb.get_paginator("scan").paginate(TableName=table)
                     for item in page["Items"]]
            assert len(items) == 10_000
            return time.perf_counter() - start

        def api_list() -> float:
            start = time.perf_counter()
            result = requests.get(stack.api_url + "/image/", params={"full": "true"},
                                  headers={"ES-API-KEY": stack.admin_key}, timeout=300).json()
            assert len(result["result"]) == 10_000
            return time.perf_counter() - start

        api_times, raw_times = [], []
        for _ in range(5):
            raw_times.append(raw_scan())
            api_times.append(api_list())
        api_median, raw_median = statistics.median(api_times), statistics.median(raw_times)
    finally:
        stack.stop()

    print(f"raw_scan_pages_10000: {raw_pages}")
    print(f"list_10000_api_median_s: {api_median:.3f}")
    print(f"list_10000_raw_scan_median_s: {raw_median:.3f}")
    for name, value in figures.items():
        print(f"ddb_requests_{name}: {value}")
    print(f"list_ratio: {api_median / raw_median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
