"""PUT and DELETE /image/<name>, GET /image/<name>/vm, without an image server (SPEC §4.4–4.6)."""
from __future__ import annotations

import uuid as uuidlib

import pytest

from chalicelib.persistence.models import Datacenter, Guard, Image, TaskLogEntry, Vm
from tests.support import image_admin_roles, wait_for


def make(admin, files, name, dc="main", **fields):
    manifest = files.manifest()
    r = admin.post(f"/image/{name}", {"manifest_url": files.publish(manifest), "dc": dc, **fields})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def failure(response) -> dict:
    assert response.status_code == 400, response.text
    return response.json()["result"]


def vm_event(stack, image_uuid, *, hostname="web01", dc="main", version=1, vm_uuid=None):
    vm_uuid = vm_uuid or str(uuidlib.uuid4())
    stack.put_event("VM State", {
        "uuid": vm_uuid, "hostname": hostname, "dc": dc, "owner": "admin", "status": "running",
        "ostype": 1, "version": version,
        "disks": [{"image_uuid": image_uuid, "size": 10240, "zfs_filesystem": f"zones/{vm_uuid}"}]})
    return vm_uuid


class TestUpdate:
    def test_partial_update_db_only(self, admin, files):
        make(admin, files, "img1")
        r = admin.put("/image/img1", {"desc": "new text", "version": "2.0", "tags": "x,y"})
        assert r.status_code == 200, r.text
        image = r.json()["result"]
        assert (image["desc"], image["version"], image["tags"]) == ("new text", "2.0", ["x", "y"])
        assert image["alias"] == "img1" and image["access"] == 3
        record = Image.get("img1")
        assert record.manifest["description"] == "new text"
        assert record.manifest["version"] == "2.0" and record.manifest_active == record.manifest

    def test_update_logs_the_sent_fields(self, admin, files):
        make(admin, files, "img1")
        admin.put("/image/img1", {"desc": "d2", "access": "1"})
        entry = next(e for e in TaskLogEntry.query("main") if e.msg == "Update image")
        assert entry.detail == "access=1 desc='d2'"

    def test_empty_update_changes_nothing(self, admin, files):
        before = make(admin, files, "img1")
        r = admin.put("/image/img1", {})
        assert r.status_code == 200 and r.json()["result"] == before

    def test_read_only_fields_are_ignored(self, admin, files):
        before = make(admin, files, "img1")
        r = admin.put("/image/img1", {"uuid": "x", "status": 2, "size": 5, "created": "now"})
        assert r.json()["result"] == before

    def test_missing_image(self, admin):
        r = admin.put("/image/none", {"desc": "x"})
        assert r.status_code == 404 and r.json() == {"detail": "Image not found"}

    @pytest.mark.parametrize("field,value,message", [
        ("alias", "", "This field is required."),
        ("version", "v" * 17, "Ensure this value has at most 16 characters (it has 17)."),
        ("access", "9", "Select a valid choice. 9 is not one of the available choices."),
        ("owner", "ghost", "Object with username=ghost does not exist."),
        ("desc", None, "This field may not be null."),
    ])
    def test_field_rules(self, admin, files, field, value, message):
        make(admin, files, "img1")
        assert failure(admin.put("/image/img1", {field: value})) == {field: [message]}

    def test_alias_version_conflict_and_guard_move(self, admin, files):
        make(admin, files, "img1", alias="one", version="1")
        make(admin, files, "img2", alias="two", version="1")
        assert failure(admin.put("/image/img2", {"alias": "ONE"})) == {"alias": [
            "This alias is already in use. Please supply a different alias or version."]}
        assert admin.put("/image/img1", {"alias": "uno"}).status_code == 200
        # the old alias is free again, the new one is taken
        assert admin.put("/image/img2", {"alias": "one"}).status_code == 200
        assert Guard.count("alias#uno#1") == 1 and Guard.count("alias#two#1") == 0

    def test_non_superadmin_cannot_change_dc_bound(self, clean, admin, files):
        make(admin, files, "img1")
        alice = clean.user("alice", roles=image_admin_roles("main"))
        assert failure(alice.put("/image/img1", {"dc_bound": False})) == {
            "dc_bound": ["You don't have permission to modify this attribute."]}
        assert alice.put("/image/img1", {"dc_bound": True}).status_code == 200  # no change

    def test_superadmin_unbinds_and_rebinds(self, admin, files):
        make(admin, files, "img1")
        r = admin.put("/image/img1", {"dc_bound": "false"})
        assert r.status_code == 200 and r.json()["result"]["dc_bound"] is False
        assert Datacenter.get("main").image_count == 0
        r = admin.put("/image/img1", {"dc_bound": "true"})
        assert r.status_code == 200 and r.json()["result"]["dc_bound"] is True
        assert Image.get("img1").dc_bound == "main" and Datacenter.get("main").image_count == 1

    def test_binding_needs_exactly_one_attached_dc(self, admin, files):
        make(admin, files, "img1", dc_bound=False)
        assert failure(admin.put("/image/img1", {"dc_bound": True})) == {
            "dc_bound": ["Image is not attached into any datacenters."]}
        Image("img1").update(actions=[Image.dcs.set(["main", "dc2"])], add_version_condition=False)
        assert failure(admin.put("/image/img1", {"dc_bound": True})) == {
            "dc_bound": ["Image is attached into more than one datacenter."]}

    def test_owner_change(self, clean, admin, files):
        clean.user("bob")
        make(admin, files, "img1")
        r = admin.put("/image/img1", {"owner": "bob"})
        assert r.status_code == 200 and r.json()["result"]["owner"] == "bob"

    def test_pending_image_is_417(self, admin, files):
        make(admin, files, "img1")
        Image("img1").update(actions=[Image.status.set(2)], add_version_condition=False)
        r = admin.put("/image/img1", {"desc": "x"})
        assert r.status_code == 417 and r.json() == {"detail": "Image status is not OK"}

    def test_if_match(self, admin, files):
        make(admin, files, "img1")
        tag = admin.get("/image/img1").headers["ETag"]
        assert admin.put("/image/img1", {"desc": "a"}, headers={"If-Match": '"stale"'}
                         ).status_code == 412
        r = admin.put("/image/img1", {"desc": "a"}, headers={"If-Match": tag})
        assert r.status_code == 200
        assert r.headers["ETag"] != tag
        assert admin.put("/image/img1", {"desc": "b"}, headers={"If-Match": tag}).status_code == 412

    def test_other_dc_admin_is_403(self, clean, admin, files):
        clean.dc("dc2")
        make(admin, files, "img1")
        bob = clean.user("bob", roles=image_admin_roles("dc2"))
        r = bob.put("/image/img1", {"desc": "x"})
        assert r.status_code == 403
        assert r.json() == {"detail": "You do not have permission to perform this action."}


class TestDelete:
    def test_delete_removes_record_guards_and_count(self, admin, files):
        image = make(admin, files, "img1")
        r = admin.delete("/image/img1")
        assert r.status_code == 200 and r.json()["status"] == "SUCCESS"
        assert r.json()["result"] is None
        assert admin.get("/image/img1").status_code == 404
        assert Guard.count(f"uuid#{image['uuid']}") == 0
        assert Datacenter.get("main").image_count == 0
        assert any(e.msg == "Delete image" for e in TaskLogEntry.query("main"))

    def test_name_uuid_and_alias_are_free_again(self, clean, admin, files):
        clean.dc("one", image_limit=1)
        manifest = files.manifest()
        url = files.publish(manifest)
        assert admin.post("/image/img1", {"manifest_url": url, "dc": "one"}).status_code == 200
        assert admin.delete("/image/img1").status_code == 200
        assert admin.post("/image/img1", {"manifest_url": url, "dc": "one"}).status_code == 200

    def test_missing(self, admin):
        r = admin.delete("/image/none")
        assert r.status_code == 404 and r.json() == {"detail": "Image not found"}

    def test_pending_is_417(self, admin, files):
        make(admin, files, "img1")
        Image("img1").update(actions=[Image.status.set(2)], add_version_condition=False)
        r = admin.delete("/image/img1")
        assert r.status_code == 417 and r.json() == {"detail": "Image status is not OK"}
        assert Image.count("img1") == 1

    def test_used_by_a_vm_is_428(self, clean, admin, files):
        image = make(admin, files, "img1")
        vm_event(clean, image["uuid"])
        clean.events_delivered("on_platform_event")  # a delete before it would just succeed
        r = admin.delete("/image/img1")
        assert r.status_code == 428, r.text
        assert r.json() == {"detail": "Image is used by some VMs"}
        assert Image.count("img1") == 1

    def test_vm_in_a_dc_the_image_is_not_attached_to_does_not_count(self, clean, admin, files):
        clean.dc("dc2")
        image = make(admin, files, "img1")
        vm_uuid = vm_event(clean, image["uuid"], dc="dc2", hostname="elsewhere")
        clean.events_delivered("on_platform_event")
        assert Vm.get(vm_uuid).image_uuids == [image["uuid"]]  # stored, and uses the image
        assert admin.delete("/image/img1").status_code == 200


class TestImageVms:
    def test_hostnames_and_objects(self, clean, admin, files):
        image = make(admin, files, "img1")
        vm_event(clean, image["uuid"], hostname="zeta")
        vm_event(clean, image["uuid"], hostname="alpha")
        vm_event(clean, None, hostname="other")
        wait_for(lambda: len(admin.get("/image/img1/vm").json()["result"]) == 2)
        assert admin.get("/image/img1/vm").json()["result"] == ["alpha", "zeta"]
        assert admin.get("/image/img1/vm", params={"order_by": "-hostname"}).json()[
            "result"] == ["zeta", "alpha"]
        full = admin.get("/image/img1/vm", params={"full": "true"}).json()["result"]
        assert full[0]["hostname"] == "alpha" and full[0]["disks"][0]["image_uuid"] == image["uuid"]

    def test_bad_order_by(self, admin, files):
        make(admin, files, "img1")
        r = admin.get("/image/img1/vm", params={"order_by": "name"})
        assert r.status_code == 412
        assert r.json() == {"detail": "Invalid order_by; Possible sort fields are: hostname"}

    def test_missing_image(self, admin):
        assert admin.get("/image/none/vm").status_code == 404
