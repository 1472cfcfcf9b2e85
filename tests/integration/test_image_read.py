"""GET /image and GET /image/<name>: listing, details, visibility (SPEC §2, §4.1, §4.2)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.persistence.models import Image
from tests.support import image_admin_roles


def make(admin, files, name, dc="main", **fields):
    body = {"manifest_url": files.publish(files.manifest()), "dc": dc, **fields}
    r = admin.post(f"/image/{name}", body)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def set_created(name: str, when: datetime) -> None:
    Image(name).update(actions=[Image.created.set(when)], add_version_condition=False)


def test_list_names_sorted_by_name(admin, files):
    for name in ("b-img", "a-img", "c-img"):
        make(admin, files, name)
    r = admin.get("/image")
    assert r.status_code == 200
    assert r.json()["result"] == ["a-img", "b-img", "c-img"]


def test_list_full_and_extended(admin, files):
    make(admin, files, "img1")
    full = admin.get("/image", params={"full": "true"}).json()["result"]
    assert len(full) == 1 and "dcs" not in full[0] and full[0]["name"] == "img1"
    extended = admin.get("/image", params={"extended": "1"}).json()["result"]
    assert extended[0]["dcs"] == ["main"]


def test_list_order_by_created_descending(admin, files):
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for offset, name in enumerate(("x1", "x2", "x3")):
        make(admin, files, name)
        set_created(name, base + timedelta(days=offset))
    assert admin.get("/image", params={"order_by": "-created"}).json()["result"] == \
        ["x3", "x2", "x1"]
    assert admin.get("/image", params={"order_by": "created,name"}).json()["result"] == \
        ["x1", "x2", "x3"]


def test_list_bad_order_by(admin):
    r = admin.get("/image", params={"order_by": "size"})
    assert r.status_code == 412
    assert r.json() == {"detail": "Invalid order_by; Possible sort fields are: name, created"}


def test_internal_images_are_never_listed(admin, files):
    make(admin, files, "visible")
    make(admin, files, "internal")
    Image("internal").update(actions=[Image.access.set(9)], add_version_condition=False)
    assert admin.get("/image").json()["result"] == ["visible"]
    assert admin.get("/image/internal").status_code == 200  # reachable by name


def test_deleted_access_images_are_listed(admin, files):
    make(admin, files, "old", access=4)
    assert admin.get("/image").json()["result"] == ["old"]


def test_non_superadmin_sees_only_images_of_own_dcs(clean, admin, files):
    clean.dc("dc2")
    make(admin, files, "in-main")
    make(admin, files, "in-dc2", dc="dc2")
    make(admin, files, "unbound", dc_bound=False)
    alice = clean.user("alice", roles=image_admin_roles("main"))
    assert alice.get("/image").json()["result"] == ["in-main"]
    assert alice.get("/image/in-main").status_code == 200
    for name in ("in-dc2", "unbound"):
        r = alice.get(f"/image/{name}")
        assert r.status_code == 403
        assert r.json() == {"detail": "You do not have permission to perform this action."}


def test_role_admin_without_image_admin_is_denied(clean):
    bob = clean.user("bob", roles={"main": ["admin", "image_import_admin"]})
    r = bob.get("/image")
    assert r.status_code == 403 and r.json() == {"detail": "Permission denied"}


def test_get_missing_image(admin):
    r = admin.get("/image/nothing")
    assert r.status_code == 404 and r.json() == {"detail": "Image not found"}


def test_get_extended_and_etag(admin, files):
    make(admin, files, "img1")
    r = admin.get("/image/img1", params={"extended": "True"})
    assert r.json()["result"]["dcs"] == ["main"]
    first = r.headers["ETag"]
    admin.put("/image/img1", {"desc": "changed"})
    assert admin.get("/image/img1").headers["ETag"] != first


def test_es_dc_header_follows_the_image(clean, admin, files):
    clean.dc("dc2")
    make(admin, files, "img2", dc="dc2")
    assert admin.get("/image/img2").headers["es_dc"] == "dc2"
    assert admin.get("/image").headers["es_dc"] == "main"


class TestPaging:
    def test_limit_and_cursor_walk_the_whole_list(self, admin, files):
        names = [f"p{i:02d}" for i in range(7)]
        for name in reversed(names):
            make(admin, files, name)
        seen, cursor = [], None
        for _ in range(10):
            params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
            r = admin.get("/image", params=params)
            assert r.status_code == 200, r.text
            seen += r.json()["result"]
            cursor = r.headers.get("es_next")
            if not cursor:
                break
        assert seen == names

    def test_cursor_is_stable_under_descending_sort(self, admin, files):
        base = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(5):
            make(admin, files, f"q{i}")
            set_created(f"q{i}", base + timedelta(hours=i % 2))  # ties on created
        full = admin.get("/image", params={"order_by": "-created"}).json()["result"]
        r = admin.get("/image", params={"order_by": "-created", "limit": 2})
        page1 = r.json()["result"]
        page2 = admin.get("/image", params={"order_by": "-created", "limit": 10,
                                            "cursor": r.headers["es_next"]}).json()["result"]
        assert page1 + page2 == full

    def test_no_limit_returns_everything_without_cursor(self, admin, files):
        make(admin, files, "only")
        r = admin.get("/image")
        assert "es_next" not in r.headers

    @pytest.mark.parametrize("params,field", [({"limit": "x"}, "limit"), ({"limit": "0"}, "limit"),
                                              ({"cursor": "garbage!"}, "cursor")])
    def test_bad_paging_parameters(self, admin, params, field):
        r = admin.get("/image", params=params)
        assert r.status_code == 400 and field in r.json()["result"]
