"""Uniqueness and limits hold under concurrent requests (conditional writes, not read-then-write)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chalicelib.models import Datacenter, Guard, Image


def run_all(calls):
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def test_same_name_exactly_one_wins(admin, files):
    urls = [files.publish(files.manifest()) for _ in range(8)]
    results = run_all([lambda u=u, i=i: admin.post("/image/race", {
        "manifest_url": u, "dc": "main", "alias": f"a{i}"}) for i, u in enumerate(urls)])
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1, [r.text for r in results]
    assert all(c == 406 for c in codes if c != 200)
    assert Image.count() == 1 and Guard.count() == 2


def test_same_uuid_exactly_one_wins(admin, files):
    url = files.publish(files.manifest())
    results = run_all([lambda i=i: admin.post(f"/image/u{i}", {
        "manifest_url": url, "dc": "main"}) for i in range(8)])
    ok = [r for r in results if r.status_code == 200]
    assert len(ok) == 1, [r.text for r in results]
    for r in results:
        if r.status_code != 200:
            assert r.status_code == 400
            assert r.json()["result"]["manifest_url"][0].startswith(
                "Image UUID is already registered by image")
    assert Image.count() == 1


def test_same_alias_and_version_exactly_one_wins(admin, files):
    urls = [files.publish(files.manifest()) for _ in range(8)]
    results = run_all([lambda u=u, i=i: admin.post(f"/image/v{i}", {
        "manifest_url": u, "dc": "main", "alias": "same", "version": "1"})
        for i, u in enumerate(urls)])
    assert sum(r.status_code == 200 for r in results) == 1, [r.text for r in results]
    assert Image.count() == 1


def test_dc_limit_holds_under_concurrency(clean, admin, files):
    clean.dc("small", image_limit=2)
    urls = [files.publish(files.manifest()) for _ in range(8)]
    results = run_all([lambda u=u, i=i: admin.post(f"/image/l{i}", {
        "manifest_url": u, "dc": "small"}) for i, u in enumerate(urls)])
    assert sum(r.status_code == 200 for r in results) == 2, [r.text for r in results]
    for r in results:
        if r.status_code != 200:
            assert r.json()["result"] == {
                "non_field_errors": ["Maximum number of server disk images reached"]}
    assert Datacenter.get("small").image_count == 2


def test_concurrent_update_and_delete_leave_a_consistent_record(admin, files):
    r = admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "main"})
    assert r.status_code == 200
    calls = [lambda i=i: admin.put("/image/img1", {"alias": f"alias{i}"}) for i in range(4)]
    calls.append(lambda: admin.delete("/image/img1"))
    results = run_all(calls)
    codes = [r.status_code for r in results]
    assert all(code in (200, 404, 412) for code in codes), [r.text for r in results]
    # whatever happened, guards match the records exactly
    images = list(Image.scan())
    expected = {f"uuid#{i.uuid}" for i in images} | {f"alias#{i.alias.lower()}#{i.version}"
                                                      for i in images}
    assert {g.key for g in Guard.scan()} == expected
    assert Datacenter.get("main").image_count == len(images)
