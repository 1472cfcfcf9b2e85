"""The catalogue by index (issue 17): every `order_by` is an index walk whose pages read what
they show, DC image admins' DCs merged in order, old cursors refused, full lists gzip'd, the
backfill, the in-use check as a Query, and pages that stay consistent under writes.

Records are seeded straight into the table (through the models, which derive the index keys
as every write does); everything asserted is read through the API over HTTP."""
from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from chalicelib.domain import cursor as cursors
from chalicelib.persistence.models import Image
from devstack import ddb_meter
from tests.integration import racing
from tests.support import image_admin_roles

BASE = datetime(2025, 3, 1, tzinfo=UTC)
ORDERS = ["name", "-name", "created", "-created", "created,name", "created,-name",
          "-created,name", "-created,-name", "name,-created", "-name,created", "+created"]


def record(name: str, created: datetime, dc: str | None = "main", access: int = 3) -> Image:
    number = sum(ord(c) * 31 ** i for i, c in enumerate(name)) % 10 ** 12
    return Image(name, uuid=f"00000000-0000-4000-8000-{number:012d}", alias=name, version="1",
                 owner="admin", access=access, desc="seeded", created=created, dc_bound=dc,
                 dcs=[dc or "main"], status=1)


def seed(images: list[Image]) -> None:
    with Image.batch_write() as batch:
        for image in images:
            batch.save(image)


def expected(images: list[Image], order_by: str) -> list[str]:
    """The order the in-memory sort gave (stable sorts, name ascending as the tiebreak)."""
    result = sorted(images, key=lambda image: image.name)
    for part in reversed(order_by.split(",")):
        field = part.lstrip("+-")
        result.sort(key=lambda image: getattr(image, field), reverse=part.startswith("-"))
    return [image.name for image in result]


def walk(api, order_by: str, limit: int) -> list[str]:
    seen, cursor = [], None
    for _ in range(1000):
        params = {"order_by": order_by, "limit": str(limit)} | ({"cursor": cursor} if cursor
                                                                else {})
        r = api.get("/image", params=params)
        assert r.status_code == 200, r.text
        seen += r.json()["result"]
        cursor = r.headers.get("es_next")
        if not cursor:
            return seen
    raise AssertionError("the walk did not end")


@pytest.fixture
def catalogue(clean):
    """13 images: groups created at the same instant (ties), two DCs, one DC-unbound, one
    internal (never listed)."""
    clean.dc("eu")
    clean.dc("us")
    times = [BASE, BASE, BASE + timedelta(seconds=1), BASE + timedelta(seconds=1),
             BASE + timedelta(seconds=1), BASE - timedelta(days=3), BASE + timedelta(days=1),
             BASE, BASE + timedelta(seconds=1), BASE + timedelta(microseconds=1), BASE,
             BASE - timedelta(days=3), BASE]
    dcs = ["main", "eu", "us", "main", "eu", None, "us", "eu", "main", "main", "us", "eu", "main"]
    names = ["m1", "e-b", "u.a", "m0", "e_a", "unbound", "u9", "e-a", "M2", "m-3", "u-z", "e9",
             "z-internal"]
    images = [record(n, t, d) for n, t, d in zip(names, times, dcs, strict=True)]
    images[-1].access = 9
    seed(images)
    return [image for image in images if image.access != 9]


@pytest.mark.parametrize("order_by", ORDERS)
def test_every_order_is_the_sorted_list_whole_and_paged(catalogue, admin, clean, order_by):
    want = expected(catalogue, order_by)
    assert admin.get("/image", params={"order_by": order_by}).json()["result"] == want
    assert walk(admin, order_by, 2) == want
    # a DC image admin of two DCs: those DCs' images merged in the same order
    dc_admin = clean.user("eu-us-admin", roles={"eu": image_admin_roles("eu")["eu"],
                                                "us": image_admin_roles("us")["us"]})
    mine = [image for image in catalogue if image.dc_bound in ("eu", "us")]
    assert walk(dc_admin, order_by, 3) == expected(mine, order_by)


def test_a_page_reads_what_it_shows(clean, admin):
    clean.dc("eu")
    seed([record(f"img-{i:04d}", BASE + timedelta(seconds=i), "eu" if i % 2 else "main")
          for i in range(400)])
    dc_admin = clean.user("eu-admin", roles=image_admin_roles("eu"))
    for api, order_by in ((admin, "name"), (admin, "-created"), (dc_admin, "-created,name")):
        with ddb_meter.window() as reads:
            r = api.get("/image", params={"order_by": order_by, "limit": "10"})
        assert r.status_code == 200 and len(r.json()["result"]) == 10
        # the page, one more to know whether a next page exists, and (created first) one more
        # to know that a group of equal times ended; a Scan reads all 400
        assert reads.items_of("-images") <= 12, (order_by, reads.items_at)


def test_a_cursor_from_before_the_indexes_is_a_400(catalogue, admin):
    old = cursors.encode({"o": [["name", False]], "k": ["e-a", "e-a"]})
    r = admin.get("/image", params={"limit": "2", "cursor": old})
    assert r.status_code == 400
    assert "cursor" in r.json()["result"]
    # a cursor of another order's walk is refused the same way
    other = admin.get("/image", params={"limit": "2", "order_by": "-created"})
    r = admin.get("/image", params={"limit": "2", "cursor": other.headers["es_next"]})
    assert r.status_code == 400


def test_a_long_full_list_is_gzipped_for_clients_that_accept_it(clean, admin):
    seed([record(f"full-{i:04d}", BASE) for i in range(300)])
    gzipped = admin.get("/image", params={"full": "true"},
                        headers={"Accept-Encoding": "gzip, deflate"})
    assert gzipped.status_code == 200
    assert gzipped.headers.get("Content-Encoding") == "gzip"
    assert len(gzipped.json()["result"]) == 300  # requests decodes it
    plain = admin.get("/image", params={"full": "true"}, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.json()["result"] == gzipped.json()["result"]


def test_records_from_before_the_indexes_stay_listed_until_and_after_the_backfill(clean,
                                                                                   admin):
    from chalicelib.services.maintenance import catalogue_migration as migration
    seed([record("new-a", BASE), record("old-b", BASE + timedelta(seconds=1)),
          record("old-c", BASE - timedelta(seconds=1), dc="main")])
    keys = [Image.listed, Image.listed_dc, Image.created_key, Image.servable]
    for name in ("old-b", "old-c"):  # as an earlier version wrote them: no index keys
        Image(name).update(actions=[key.remove() for key in keys], add_version_condition=False)
    from chalicelib.persistence.models import Guard
    Guard(migration.MARK).delete()
    migration.forget_cached_mark()
    try:
        before = admin.get("/image", params={"order_by": "created"}).json()["result"]
        assert before == ["old-c", "new-a", "old-b"]
        report = migration.migrate()
        assert report.images_updated == 2 and report.images_read == 3
        assert migration.backfilled()
        assert Image.get("old-b").listed == "listed"
        with ddb_meter.window() as reads:
            after = admin.get("/image", params={"order_by": "created"}).json()["result"]
        assert after == before
        assert not reads.ops("-images")["scan"]
        assert migration.migrate().images_updated == 0  # idempotent
    finally:
        migration.migrate()


def test_the_in_use_check_of_a_delete_is_one_query(clean, admin):
    image = record("used", BASE)
    seed([image])
    vm = "8b0b0f2e-1c7d-4c56-9a53-1d6f1b0c0a77"
    clean.put_event("VM State", {
        "uuid": vm, "hostname": "web77", "dc": "main", "owner": "admin", "status": "running",
        "ostype": 1, "version": 1,
        "disks": [{"image_uuid": image.uuid, "size": 10240,
                   "zfs_filesystem": f"zones/{vm}-disk0"}]})
    clean.events_delivered("on_platform_event")
    with ddb_meter.window() as reads:
        r = admin.delete("/image/used")
    assert r.status_code == 428, r.text
    assert reads.ops("-vms")["scan"] == 0
    assert reads.ops("-image-uses") == {"query": 1}
    assert admin.get("/image/used/vm").json()["result"] == ["web77"]
    clean.put_event("VM Deleted", {"uuid": vm, "version": 2})
    clean.events_delivered("on_platform_event")
    assert admin.get("/image/used/vm").json()["result"] == []


ROUNDS = 2


@pytest.mark.parametrize("order_by", ["name", "-created"])
def test_pages_under_writes_never_repeat_nor_skip(clean, admin, order_by):
    """A reader walks page by page while writers create and delete images (barrier-released):
    no image appears twice, and every image that existed for the whole walk appears."""
    for round_ in range(ROUNDS):
        prefix = f"r{round_}"
        stable = [record(f"{prefix}-s{i:03d}", BASE + timedelta(seconds=i % 11)) for i in
                  range(30)]
        doomed = [record(f"{prefix}-d{i:03d}", BASE + timedelta(seconds=i % 7)) for i in
                  range(20)]
        seed(stable + doomed)
        done = threading.Event()
        reader_api = racing.Client(admin)

        def reader() -> list[str]:
            try:
                return walk(reader_api, order_by, 7)
            finally:
                done.set()

        def creator() -> int:
            made = 0
            for i in itertools.count():
                if done.is_set() or i >= 40:
                    return made
                record(f"{prefix}-n{i:03d}", BASE + timedelta(seconds=i % 13)).save()
                made += 1
            return made

        def deleter() -> int:
            for image in doomed:
                if done.is_set():
                    break
                image.delete()
            return 0

        seen, _, _ = racing.race(reader, creator, deleter, prepare=reader_api.connect)
        assert len(seen) == len(set(seen)), "an image was listed twice"
        missing = {image.name for image in stable} - set(seen)
        assert not missing, f"skipped images that existed all along: {sorted(missing)}"
        clean_round(prefix)


def clean_round(prefix: str) -> None:
    with Image.batch_write() as batch:
        for image in Image.scan(Image.name.startswith(prefix)):
            batch.delete(image)


def test_requests_decodes_what_the_gateway_sends(clean, admin):
    """The gateway sends the gzip'd bytes (decoded from the proxy response's base64), not the
    base64 text: a client reading the raw stream sees gzip's magic number."""
    seed([record(f"raw-{i:04d}", BASE) for i in range(300)])
    r = requests.get(admin.base_url + "/image/", params={"full": "true"}, stream=True,
                     headers={"ES-API-KEY": admin.key, "Accept-Encoding": "gzip"}, timeout=30)
    assert r.raw.read(2) == b"\x1f\x8b"


def test_the_operators_task_list_is_newest_first_and_reads_its_page(clean):
    """`imagectl task list [--dc DC]` (operator_views.list_tasks) reads the tasks index
    backwards: its rows, not the tasks table."""
    from chalicelib.persistence.models import Task
    from chalicelib.services.maintenance import operator_views
    clean.dc("eu")
    with Task.batch_write() as batch:
        for i in range(120):
            batch.save(Task(f"t-{i:04d}", operation="import", creator="admin", owner="admin",
                            dc="eu" if i % 3 == 0 else "main", image_name=f"img-{i}",
                            created=BASE + timedelta(seconds=(i * 7) % 120), state="done",
                            status="SUCCESS"))
    with ddb_meter.window() as reads:
        rows = operator_views.list_tasks(limit=5)
        eu = operator_views.list_tasks(dc="eu", limit=4)
    newest = sorted(range(120), key=lambda i: ((i * 7) % 120, f"t-{i:04d}"), reverse=True)
    assert [row["task_id"] for row in rows] == [f"t-{i:04d}" for i in newest[:5]]
    assert [row["task_id"] for row in eu] == [f"t-{i:04d}" for i in newest if i % 3 == 0][:4]
    assert reads.items_of("-tasks") <= 5 + 4 + 2, reads.items_at  # a Scan reads all 120
