"""Apply platform events to the read models (VMs, snapshots, users, DCs).

Every write is an UpdateItem conditioned on the stored `event_version` being older than the
event's, so duplicates and out-of-order deliveries change nothing. Deletions leave a tombstone
with the deleting version so that a late state event cannot bring the object back.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import platform_events as ev
from chalicelib.persistence import vm_uses
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Datacenter, Snapshot, User, Vm, VmDisk


def _newer(model: Any, version: int) -> Any:
    return model.event_version.does_not_exist() | (model.event_version < version)


def _apply(item: Any, actions: list[Any], version: int) -> bool:
    """True when applied, False when the event was stale."""
    model = type(item)
    return conditional_update(item, actions + [model.event_version.set(version)],
                              _newer(model, version))


def apply_vm_state(e: dict[str, Any]) -> bool:
    disks = [{k: v for k, v in d.items() if v is not None} for d in e["disks"]]
    images = sorted({d["image_uuid"] for d in e["disks"] if d["image_uuid"]})
    return vm_uses.apply(e["uuid"], images, e["dc"], [
        Vm.hostname.set(e["hostname"]), Vm.dc.set(e["dc"]),
        Vm.owner.set(e["owner"]) if e["owner"] else Vm.owner.remove(),
        Vm.node.set(e["node"]) if e.get("node") else Vm.node.remove(),
        Vm.status.set(e["status"]), Vm.ostype.set(e["ostype"]),
        Vm.disks.set([VmDisk(**disk) for disk in disks]), Vm.image_uuids.set(images),
        Vm.deleted.set(False),
    ], e["version"])


def apply_vm_deleted(e: dict[str, Any]) -> bool:
    return vm_uses.apply(e["uuid"], [], "", [
        Vm.deleted.set(True), Vm.image_uuids.set([]), Vm.disks.set([]),
        Vm.status.set("deleted"), Vm.hostname.set(f"deleted-{e['uuid']}"), Vm.dc.set(""),
    ], e["version"])


def apply_snapshot_state(e: dict[str, Any]) -> bool:
    return _apply(Snapshot(e["vm_uuid"], Snapshot.key_for(e["disk_id"], e["name"])), [
        Snapshot.name.set(e["name"]), Snapshot.disk_id.set(e["disk_id"]),
        Snapshot.zfs_name.set(e["zfs_name"]) if e["zfs_name"] else Snapshot.zfs_name.remove(),
        Snapshot.status.set(e["status"]), Snapshot.deleted.set(False),
    ], e["version"])


def apply_snapshot_deleted(e: dict[str, Any]) -> bool:
    return _apply(Snapshot(e["vm_uuid"], Snapshot.key_for(e["disk_id"], e["name"])), [
        Snapshot.name.set(e["name"]), Snapshot.disk_id.set(e["disk_id"]),
        Snapshot.deleted.set(True), Snapshot.status.set("deleted"),
    ], e["version"])


def apply_user_state(e: dict[str, Any]) -> bool:
    """Events set a user's DC roles and activity and may take SuperAdmin away, but never
    grant it: that takes an operator (`./imagectl`), not a message (README "Security").
    API keys are not part of the event: they stay as the operator CLI set them."""
    from chalicelib.services.identity.accounts import new_callback_key
    actions = [User.is_active.set(e["is_active"]), User.dc_roles.set(e["dc_roles"]),
               User.callback_key.set(User.callback_key | new_callback_key())]
    if not e["is_super_admin"]:
        actions.append(User.is_super_admin.set(False))
    return _apply(User(e["username"]), actions, e["version"])


def apply_dc_state(e: dict[str, Any]) -> bool:
    limit = e["image_limit"]
    return _apply(Datacenter(e["name"]), [
        Datacenter.image_limit.set(limit) if limit is not None else Datacenter.image_limit.remove(),
    ], e["version"])


APPLIERS = {
    ev.VM_STATE: apply_vm_state, ev.VM_DELETED: apply_vm_deleted,
    ev.SNAPSHOT_STATE: apply_snapshot_state, ev.SNAPSHOT_DELETED: apply_snapshot_deleted,
    ev.USER_STATE: apply_user_state, ev.DC_STATE: apply_dc_state,
}


def apply(detail_type: str, detail: Any) -> bool:
    """Parse and apply one event; raises MalformedEvent for bad input."""
    kind, clean = ev.parse(detail_type, detail)
    return APPLIERS[kind](clean)
