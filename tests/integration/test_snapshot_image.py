"""POST /vm/<vm>/snapshot/<snap>/image/<name> without an image server (SPEC §4.7)."""
from __future__ import annotations

import pytest

from chalicelib.domain.field_texts import LIMIT_REACHED
from chalicelib.persistence.models import Image
from chalicelib.services.platform import read_models
from tests.support import image_admin_roles

VM = "5c7e8a7e-0f5e-4a3c-8d3e-1a2b3c4d5e6f"


@pytest.fixture
def vm(clean):
    # The read model is fed by events; here it is written through the same service directly.
    read_models.apply("VM State", {
        "uuid": VM, "hostname": "db01", "dc": "main", "owner": "admin", "status": "running",
        "ostype": 4, "version": 1,
        "disks": [{"image_uuid": None, "size": 20480, "zfs_filesystem": "zones/db01-disk0"},
                  {"image_uuid": None, "size": 1024, "zfs_filesystem": "zones/db01-disk1"}]})
    read_models.apply("Snapshot State", {"vm_uuid": VM, "name": "daily", "disk_id": 1,
                                         "zfs_name": "es-7", "status": "ok", "version": 1})
    return VM


def post(api, vm_ref, snap="daily", name="from-snap", body=None):
    return api.post(f"/vm/{vm_ref}/snapshot/{snap}/image/{name}", body or {})


def test_without_image_server_is_428_after_validation(admin, vm):
    for ref in (vm, "db01"):
        r = post(admin, ref)
        assert r.status_code == 428 and r.json() == {"detail": "Image server is not available"}
    assert Image.count() == 0


def test_vm_not_found(admin, vm):
    r = post(admin, "nope")
    assert r.status_code == 404 and r.json() == {"detail": "VM not found"}


@pytest.mark.parametrize("disk_id", [0, 3, "abc", -1, "2.5"])
def test_invalid_disk_id(admin, vm, disk_id):
    r = post(admin, vm, body={"disk_id": disk_id})
    assert r.status_code == 412 and r.json() == {"detail": "Invalid disk_id"}


def test_snapshot_not_found(admin, vm):
    r = post(admin, vm, snap="weekly")
    assert r.status_code == 404 and r.json() == {"detail": "Snapshot not found"}
    r = post(admin, vm, body={"disk_id": "2"})  # the snapshot exists on disk 1 only
    assert r.status_code == 404


def test_existing_image_name(admin, vm, files):
    admin.post("/image/taken", {"manifest_url": files.publish(files.manifest()), "dc": "main"})
    r = post(admin, vm, name="taken")
    assert r.status_code == 406 and r.json() == {"detail": "Image already exists"}


def test_field_errors_come_before_428(admin, vm):
    r = post(admin, vm, name="-bad", body={"access": 2, "version": "x" * 20})
    assert r.status_code == 400
    assert set(r.json()["result"]) == {"name", "access", "version"}


def test_permission(clean, vm):
    clean.dc("dc2")
    other = clean.user("other", roles=image_admin_roles("dc2"))
    r = post(other, vm)
    assert r.status_code == 403 and r.json() == {"detail": "Permission denied"}
    nobody = clean.user("nobody")
    assert post(nobody, vm).status_code == 403


def test_deleted_vm_and_snapshot_are_not_found(admin, vm):
    read_models.apply("Snapshot Deleted", {"vm_uuid": VM, "name": "daily", "disk_id": 1,
                                           "version": 2})
    r = post(admin, vm)
    assert r.status_code == 404 and r.json() == {"detail": "Snapshot not found"}
    read_models.apply("VM Deleted", {"uuid": VM, "version": 2})
    for ref in (vm, "db01"):
        r = post(admin, ref)
        assert r.status_code == 404 and r.json() == {"detail": "VM not found"}


def test_a_vm_in_a_dc_never_heard_of_meets_the_dc_rule_as_an_import_does(admin, vm):
    # An import into a DC that has no record is 404 before its fields are checked; an image
    # from a VM in such a DC (its events came before the DC's) is answered the same way.
    r = admin.post("/image/other", {"manifest_url": "http://x/m.json", "dc": "dc7",
                                     "access": 2})
    assert r.status_code == 404 and r.json() == {"detail": "Datacenter not found"}
    read_models.apply("VM State", {
        "uuid": VM, "hostname": "db01", "dc": "dc7", "owner": "admin", "status": "running",
        "ostype": 4, "version": 2,
        "disks": [{"image_uuid": None, "size": 20480, "zfs_filesystem": "zones/db01-disk0"}]})
    r = post(admin, vm, body={"access": 2})
    assert r.status_code == 404 and r.json() == {"detail": "Datacenter not found"}


def test_a_full_dc_is_refused_as_for_an_import(clean, admin, vm):
    clean.dc("full", image_limit=0)
    read_models.apply("VM State", {
        "uuid": VM, "hostname": "db01", "dc": "full", "owner": "admin", "status": "running",
        "ostype": 4, "version": 2,
        "disks": [{"image_uuid": None, "size": 20480, "zfs_filesystem": "zones/db01-disk0"}]})
    r = post(admin, vm)
    assert r.status_code == 400
    assert r.json()["result"] == {"non_field_errors": [LIMIT_REACHED]}
