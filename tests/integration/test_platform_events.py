"""Platform events reach the handler through the deployment's rule pattern (SPEC §8)."""
from __future__ import annotations

import uuid as uuidlib

from pynamodb.exceptions import DoesNotExist

from chalicelib.persistence.models import Datacenter, Snapshot, User, Vm
from tests.support import wait_for

VM = "8b0b0f2e-1c7d-4c56-9a53-1d6f1b0c0a01"


def vm_detail(version, **overrides):
    detail = {"uuid": VM, "hostname": "web01", "dc": "main", "owner": "admin",
              "status": "running", "ostype": 1, "version": version,
              "disks": [{"image_uuid": None, "size": 10240, "zfs_filesystem": f"zones/{VM}-disk0"}]}
    detail.update(overrides)
    return detail


def get_vm():
    try:
        return Vm.get(VM)
    except DoesNotExist:
        return None


def test_vm_state_is_stored(clean):
    clean.put_event("VM State", vm_detail(1))
    vm = wait_for(get_vm)
    assert (vm.hostname, vm.dc, vm.status, vm.event_version) == ("web01", "main", "running", 1)
    assert vm.disks[0].size == 10240


def stored_vm() -> dict:
    """The VM's whole stored record, as DynamoDB holds it."""
    return Vm.get(VM, consistent_read=True).serialize()


def platform_events_delivered(stack) -> None:
    stack.events_delivered("on_platform_event")


def test_stale_and_duplicate_events_change_nothing(clean):
    clean.put_event("VM State", vm_detail(5, status="stopped"))
    wait_for(lambda: (vm := get_vm()) and vm.event_version == 5)
    before = stored_vm()
    # every field differs from the stored ones: applying any of these would show
    other_disks = [{"image_uuid": "3e5d1c80-5a0e-4f4e-9d84-2f3f0c5b7a11", "size": 99,
                    "zfs_filesystem": "zones/other-disk0"}]
    clean.put_event("VM State", vm_detail(3, hostname="stale", dc="elsewhere", owner="bob",
                                          status="running", ostype=4, disks=other_disks))
    clean.put_event("VM State", vm_detail(5, hostname="duplicate", dc="elsewhere", owner=None,
                                          status="frozen", ostype=6, disks=[]))
    clean.put_event("VM Deleted", {"uuid": VM, "version": 4})   # a deletion older than the state
    platform_events_delivered(clean)
    assert stored_vm() == before
    # the same path does apply a newer event
    clean.put_event("VM State", vm_detail(6, hostname="web02"))
    platform_events_delivered(clean)
    vm = get_vm()
    assert (vm.hostname, vm.status, vm.event_version) == ("web02", "running", 6)


def test_vm_deleted_leaves_a_tombstone_that_late_states_cannot_revive(clean):
    clean.put_event("VM State", vm_detail(1))
    wait_for(get_vm)
    clean.put_event("VM Deleted", {"uuid": VM, "version": 2})
    wait_for(lambda: get_vm().deleted)
    tombstone = stored_vm()
    clean.put_event("VM State", vm_detail(1, hostname="ghost"))
    platform_events_delivered(clean)
    assert stored_vm() == tombstone and get_vm().deleted


def test_malformed_events_are_dropped_and_later_events_still_work(clean):
    clean.put_event("VM State", {"uuid": "not-a-uuid", "version": "x"})
    clean.put_event("No Such Type", {"a": 1})
    clean.put_event("User State", {"username": 5})
    clean.put_event("VM State", vm_detail(1))
    wait_for(get_vm)
    assert Vm.count() == 1


def test_events_from_another_source_are_not_delivered(clean):
    clean.put_event("VM State", vm_detail(1), source="someone.else")
    platform_events_delivered(clean)
    assert get_vm() is None


def test_snapshot_state_and_deleted(clean):
    clean.put_event("Snapshot State", {"vm_uuid": VM, "name": "snap1", "disk_id": 1,
                                       "zfs_name": "es-1", "status": 2, "version": 1})
    key = Snapshot.key_for(1, "snap1")
    snap = wait_for(lambda: next(iter(Snapshot.query(VM, Snapshot.snap_key == key)), None))
    assert snap.status == "pending" and snap.zfs_name == "es-1"
    clean.put_event("Snapshot Deleted", {"vm_uuid": VM, "name": "snap1", "disk_id": 1,
                                         "version": 2})
    wait_for(lambda: Snapshot.get(VM, key).deleted)


def test_user_state_grants_and_revokes_roles(clean):
    key = None
    from chalicelib.services.identity import accounts
    key = accounts.create_user("carol")
    carol = clean.api(key)
    assert carol.get("/image").status_code == 403
    clean.put_event("User State", {"username": "carol", "is_super_admin": False,
                                   "is_active": True, "version": 1,
                                   "dc_roles": {"main": ["admin", "image_admin", "bogus"]}})
    wait_for(lambda: carol.get("/image").status_code == 200)
    assert User.get("carol").api_key_hash  # the key survived the event
    assert User.get("carol").dc_roles.as_dict() == {"main": ["admin", "image_admin"]}
    clean.put_event("User State", {"username": "carol", "is_super_admin": False,
                                   "is_active": False, "version": 2, "dc_roles": {}})
    wait_for(lambda: carol.get("/image").status_code == 401)
    assert carol.get("/image").json() == {"detail": "Invalid API key."}


def test_dc_state_sets_and_clears_the_image_limit(clean):
    clean.put_event("DC State", {"name": "main", "image_limit": 3, "version": 1})
    wait_for(lambda: Datacenter.get("main").image_limit == 3)
    clean.put_event("DC State", {"name": "main", "image_limit": None, "version": 2})
    wait_for(lambda: Datacenter.get("main").image_limit is None)
    name = f"dc-{uuidlib.uuid4().hex[:6]}"
    clean.put_event("DC State", {"name": name, "image_limit": 1, "version": 1})
    wait_for(lambda: Datacenter.count(name) == 1)


def test_events_on_the_default_bus_are_not_heard(clean):
    """Anyone in the account may PutEvents on the default bus: a forged "User State" there
    must not make anyone a SuperAdmin or an admin (issue 9.3)."""
    from chalicelib.services.identity import accounts
    mallory = clean.api(accounts.create_user("mallory"))
    clean.put_event("User State", {"username": "mallory", "is_super_admin": True,
                                   "is_active": True, "version": 1,
                                   "dc_roles": {"main": ["admin", "image_admin"]}},
                    bus="default")
    clean.put_event("VM State", vm_detail(1), bus="default")
    platform_events_delivered(clean)
    assert get_vm() is None
    assert mallory.get("/image").status_code == 403
    assert not User.get("mallory").is_super_admin
    assert User.get("mallory").dc_roles.as_dict() == {}


def test_events_never_grant_super_admin_but_may_take_it_away(clean):
    from chalicelib.services.identity import accounts
    carol = clean.api(accounts.create_user("carol"))
    clean.put_event("User State", {"username": "carol", "is_super_admin": True,
                                   "is_active": True, "version": 1,
                                   "dc_roles": {"main": ["admin", "image_admin"]}})
    wait_for(lambda: User.get("carol").dc_roles.as_dict())  # the roles came through ...
    assert User.get("carol").is_super_admin is False  # ... SuperAdmin did not
    assert carol.get("/image", params={"dc": "main"}).status_code == 200
    assert carol.get("/task/log", params={"dc": "other"}).status_code == 403
    root = clean.api(accounts.create_user("root", super_admin=True))
    assert root.get("/task/log", params={"dc": "other"}).status_code == 200
    clean.put_event("User State", {"username": "root", "is_super_admin": False,
                                   "is_active": True, "version": 1, "dc_roles": {}})
    wait_for(lambda: not User.get("root").is_super_admin)
    wait_for(lambda: root.get("/task/log", params={"dc": "other"}).status_code == 403)


def test_users_made_by_events_get_a_callback_key(clean):
    """Their callbacks used to be signed with an empty key (issue 9.5)."""
    from chalicelib.services.identity import accounts
    clean.put_event("User State", {"username": "dave", "is_super_admin": False,
                                   "is_active": True, "version": 1, "dc_roles": {}})
    key = wait_for(lambda: _callback_key("dave"))
    assert len(key) == 64
    clean.put_event("User State", {"username": "dave", "is_super_admin": False,
                                   "is_active": False, "version": 2, "dc_roles": {}})
    wait_for(lambda: not User.get("dave").is_active)
    assert User.get("dave").callback_key == key  # later events keep it
    rotated = accounts.callback_key("dave", rotate=True)
    assert rotated != key and len(rotated) == 64
    assert accounts.callback_key("dave") == rotated


def _callback_key(username):
    try:
        return User.get(username).callback_key
    except DoesNotExist:
        return None


def test_dropped_events_are_counted_and_logged_with_the_reason(clean, capsys, caplog):
    """A malformed event is dropped, logged with its reason and field, and counted: one
    CloudWatch embedded-metric-format line on stdout, metric PlatformEventsDropped in the
    namespace imageapi, dimension `reason` (a fixed code, never text from the event)."""
    import json
    import logging
    caplog.set_level(logging.WARNING, logger="imageapi.events")
    platform_events_delivered(clean)      # earlier tests' events are handled: not counted here
    capsys.readouterr()
    caplog.clear()
    clean.put_event("VM State", vm_detail(1, status=1))
    clean.put_event("No Such Type", {"a": 1})
    clean.put_event("User State", {"version": 1})
    clean.put_event("VM State", vm_detail(1))             # a good one: not counted
    platform_events_delivered(clean)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{") and "PlatformEventsDropped" in line]
    assert sorted(r["reason"] for r in records) == [
        "invalid-field", "missing-field", "unknown-detail-type"]
    for r in records:
        assert r["PlatformEventsDropped"] == 1
        assert r["_aws"]["CloudWatchMetrics"] == [{
            "Namespace": "imageapi", "Dimensions": [["reason"]],
            "Metrics": [{"Name": "PlatformEventsDropped", "Unit": "Count"}]}]
        assert isinstance(r["_aws"]["Timestamp"], int)
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 3, dropped
    assert any("reason=invalid-field" in m and "detail.status: 1 is not a non-empty string" in m
               for m in dropped), dropped
    assert any("reason=missing-field" in m and "detail.username: missing" in m
               for m in dropped), dropped
    assert any("reason=unknown-detail-type" in m for m in dropped), dropped
    assert get_vm().event_version == 1
