"""What a page and a whole list cost at 1,000, 10,000 and 100,000 images (issue 17).

Starts the local stack in this process (AWS's limits enforced), seeds images straight into
the table (batch writes through the model, which derives the index keys) and measures, from
the emulator's own counts (`ScannedCount` of each Query/Scan, items of each Get):

- items read by the first page (limit 100) for `order_by=name`, `-created` and a DC image
  admin (`-created`, two DCs), at each size;
- `page_read_ratio`: items per page at 100,000 ÷ at 1,000 (target ≤ 1.2);
- a full walk (limit 1,000, cursor to the end) at 10,000: items read ÷ images (≤ 1.1);
- the whole list (names, then full=true), gzip'd, at 20,000, 50,000 and 100,000: status,
  bytes on the wire, time (the largest that answers 200 is the README's figure).

Bounded: the run stops measuring once BENCH_CATALOGUE_SECONDS (default 900) have passed and
says what it skipped; a call that fails or times out is reported, never a crash.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEVSTACK_STATE", "/tmp/imageapi-bench-catalogue-state.json")

import requests  # noqa: E402

SIZES = (1_000, 10_000, 20_000, 50_000, 100_000)
PAGED_AT = (1_000, 10_000, 100_000)
LISTED_AT = (20_000, 50_000, 100_000)
PAGE = 100
WALK_AT, WALK_PAGE = 10_000, 1_000
BUDGET = float(os.environ.get("BENCH_CATALOGUE_SECONDS", "900"))
CALL_TIMEOUT = 120.0
DCS = ("main", "eu", "us")
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def seed(start: int, end: int) -> None:
    """Images start..end-1, a third in each DC, created a second apart."""
    from chalicelib.persistence.models import Image
    with Image.batch_write() as batch:
        for i in range(start, end):
            batch.save(Image(f"cat-{i:07d}", uuid=f"00000000-0000-4000-8000-{i:012d}",
                             alias=f"cat-{i:07d}", version="1", owner="admin", access=3,
                             desc="catalogue bench", ostype=1, size=1024, tags=["bench"],
                             status=1, created=BASE + timedelta(seconds=i),
                             dc_bound=DCS[i % 3], dcs=[DCS[i % 3]]))


def get(api: tuple[str, str], params: dict[str, str], *,
        gzip: bool = True) -> requests.Response | str:
    url, key = api
    headers = {"ES-API-KEY": key, "Accept-Encoding": "gzip" if gzip else "identity"}
    try:
        return requests.get(f"{url}/image/", params=params, headers=headers,
                            timeout=CALL_TIMEOUT)
    except requests.RequestException as exc:
        return type(exc).__name__


def page_reads(api: tuple[str, str], params: dict[str, str]) -> int | str:
    from devstack import ddb_meter
    with ddb_meter.window() as reads:
        response = get(api, {**params, "limit": str(PAGE)})
    if isinstance(response, str) or response.status_code != 200:
        return response if isinstance(response, str) else f"http {response.status_code}"
    return reads.items_of("-images")


def full_walk(api: tuple[str, str]) -> tuple[int, int] | str:
    from devstack import ddb_meter
    shown, cursor = 0, None
    with ddb_meter.window() as reads:
        while True:
            params = {"limit": str(WALK_PAGE)} | ({"cursor": cursor} if cursor else {})
            response = get(api, params)
            if isinstance(response, str) or response.status_code != 200:
                return response if isinstance(response, str) else f"http {response.status_code}"
            shown += len(response.json()["result"])
            cursor = response.headers.get("es_next")
            if not cursor:
                return shown, reads.items_of("-images")


def whole_list(api: tuple[str, str], full: bool) -> str:
    params = {"full": "true"} if full else {}
    start = time.perf_counter()
    response = get(api, params)
    seconds = time.perf_counter() - start
    if isinstance(response, str):
        return f"{response} after {seconds:.1f} s"
    wire = int(response.headers.get("Content-Length") or len(response.content))
    return (f"HTTP {response.status_code}, {wire} bytes on the wire "
            f"({response.headers.get('Content-Encoding', 'identity')}), {seconds:.1f} s")


def main() -> int:
    from chalicelib.services.identity import accounts
    from devstack.stack import Stack, StackOptions
    started = time.monotonic()
    stack = Stack(StackOptions(port=0, admin_key="bench-key", write_state=False,
                               image_server=False, env={"AUTH_CACHE_SECONDS": "60"})).start()
    figures: dict[str, Any] = {}
    try:
        for dc in DCS[1:]:
            accounts.ensure_dc(dc)
        admin = (stack.api_url.rstrip("/"), stack.admin_key)
        roles = {dc: ["admin", "image_admin"] for dc in ("eu", "us")}
        dc_admin = (admin[0], accounts.create_user("bench-dc-admin", roles=roles))
        seeded = 0
        for size in SIZES:
            if time.monotonic() - started > BUDGET:
                figures[f"size_{size}"] = "skipped (time budget)"
                continue
            t0 = time.perf_counter()
            seed(seeded, size)
            seeded = size
            print(f"seeded {size} images in {time.perf_counter() - t0:.1f} s", flush=True)
            if size in PAGED_AT:
                figures[f"page_items_name_{size}"] = page_reads(admin, {"order_by": "name"})
                figures[f"page_items_-created_{size}"] = page_reads(admin,
                                                                    {"order_by": "-created"})
                figures[f"page_items_dc_admin_{size}"] = page_reads(dc_admin,
                                                                    {"order_by": "-created"})
            if size == WALK_AT:
                figures["walk_10000"] = full_walk(admin)
            if size in LISTED_AT:
                figures[f"list_{size}_names"] = whole_list(admin, full=False)
                figures[f"list_{size}_full"] = whole_list(admin, full=True)
    finally:
        stack.stop()

    for name, value in figures.items():
        if not name.startswith("walk"):
            print(f"{name}: {value}")
    ratios = []
    for pattern in ("name", "-created", "dc_admin"):
        small, large = (figures.get(f"page_items_{pattern}_{n}")
                        for n in (PAGED_AT[0], PAGED_AT[-1]))
        if isinstance(small, int) and isinstance(large, int) and small:
            ratios.append(large / small)
            print(f"page_read_ratio_{pattern}: {large / small:.2f}")
    print("page_read_ratio: " + (f"{max(ratios):.2f}" if ratios else "n/a"))
    walked = figures.get("walk_10000")
    if isinstance(walked, tuple):
        shown, read = walked
        print(f"walk_10000: {shown} images shown, {read} items read")
        print(f"walk_read_ratio: {read / WALK_AT:.3f}")
    else:
        print(f"walk_read_ratio: n/a ({walked})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
