"""POST /vm/<vm>/snapshot/<snap>/image/<name>: an image from a VM disk snapshot (SPEC §4.7)."""
from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors, http_texts
from chalicelib.domain import image_form as form
from chalicelib.domain.callbacks import callback_from
from chalicelib.domain.fields import is_uuid, to_int
from chalicelib.domain.manifest import record_manifest
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import new_task_id
from chalicelib.domain.vocabulary import (
    SNAPSHOT,
    SNAPSHOT_OK,
    SNAPSHOT_PENDING,
    VM_OPERATIONAL,
    ImageStatus,
)
from chalicelib.persistence import audit, records
from chalicelib.persistence.models import Datacenter, Image, Snapshot, Vm, get_or_none
from chalicelib.services.images import new_image
from chalicelib.services.images.access import (
    check_order_by,
    find_dc,
    require_image_admin,
)
from chalicelib.services.images.conflicts import create_record
from chalicelib.services.images.outcome import Outcome
from chalicelib.services.tasks import lifecycle

FIELDS = [f for f in form.UPDATABLE if f != "dc_bound"]  # dc_bound is forced to the VM's DC


@dataclass
class SnapshotImagePlan:
    """Everything validated; what the workflow needs to create the image."""

    vm: Vm
    snapshot: Snapshot
    disk_id: int
    values: dict[str, Any]


def find_vm(hostname_or_uuid: str) -> Vm | None:
    """By uuid or hostname; a deleted VM's tombstone is not a VM."""
    ref = hostname_or_uuid.lower()
    vm = get_or_none(Vm, ref) if is_uuid(ref) else None
    if vm is None:
        vm = next(iter(Vm.hostname_index.query(hostname_or_uuid, limit=1)), None)
    return None if vm is None or vm.deleted else vm


def plan(principal: Principal, vm_ref: str, snapname: str, name: str,
         data: dict[str, Any], params: dict[str, str]) -> SnapshotImagePlan:
    """The checks in SPEC §4.7's order: VM, disk, snapshot, name, fields, state."""
    require_image_admin(principal)
    vm = find_vm(vm_ref)
    if vm is None:
        raise errors.NotFound(http_texts.VM_NOT_FOUND)
    if not principal.is_image_admin(vm.dc):
        raise errors.PermissionDenied()
    disk_id, error = to_int(data.get("disk_id", 1))
    if error or disk_id is None or not 1 <= disk_id <= len(vm.disks or []):
        raise errors.InvalidParameter(http_texts.INVALID_DISK_ID)
    snapshot = get_or_none(Snapshot, vm.uuid, Snapshot.key_for(disk_id, snapname))
    if snapshot is None or snapshot.deleted:
        raise errors.NotFound(http_texts.SNAPSHOT_NOT_FOUND)
    if get_or_none(Image, name) is not None:
        raise errors.AlreadyExists()
    check_order_by(data, params)
    dc = find_dc(vm.dc)  # a DC never heard of holds no image: 404, as for an import
    values = _field_values(principal, name, dc, data)
    if not settings().image_server_enabled:
        raise errors.PreconditionRequired(http_texts.IMAGE_SERVER_NOT_AVAILABLE)
    if vm.status not in VM_OPERATIONAL:
        raise errors.Locked(http_texts.VM_NOT_OPERATIONAL)
    if not vm.node:  # no compute node known to export from (no platform event named one)
        raise errors.Locked(http_texts.NODE_NOT_OPERATIONAL)
    if snapshot.status != SNAPSHOT_OK:
        raise errors.ExpectationFailed(http_texts.SNAPSHOT_STATUS_NOT_OK)
    return SnapshotImagePlan(vm, snapshot, disk_id, values)


def _field_values(principal: Principal, name: str, dc: Datacenter,
                  data: dict[str, Any]) -> dict[str, Any]:
    errs = form.Errors()
    values: dict[str, Any] = {**new_image.defaults(principal, name), "desc": "",
                              "version": "1.0", "resize": False, "deploy": False, "tags": []}
    values.update(form.clean({k: v for k, v in data.items() if k != "dc_bound"}, FIELDS, errs))
    new_image.check(principal, name, values, errs, dc=dc)
    if errs:
        raise errors.ValidationFailed(errs)
    return values


def create_from_snapshot(principal: Principal, vm_ref: str, snapname: str, name: str,
                         data: dict[str, Any], params: dict[str, str]) -> Outcome:
    """Create the pending image, lock the snapshot, start the export workflow → 201."""
    p = plan(principal, vm_ref, snapname, name, data, params)
    errs = form.Errors()
    callback = callback_from(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    lifecycle.runs_on_image_server(SNAPSHOT)
    task_id = new_task_id()
    image = _new_image(name, p, task_id)
    task = lifecycle.new_task(
        task_id=task_id, operation=SNAPSHOT, image=image, creator=principal.username,
        dc=p.vm.dc, callback=callback, request=_export_request(p, snapname),
        view={"view": "image_snapshot", "method": "POST", "name": name,
              "hostname": p.vm.hostname, "snapname": snapname, "disk_id": p.disk_id})
    detail = {"hostname": p.vm.hostname, "snapname": snapname, "disk_id": p.disk_id,
              **{key: p.values[key] for key in form.UPDATABLE if key in p.values}}

    def lock_snapshot(tx: records.Tx) -> None:  # ok -> pending, in the same transaction
        tx.update("snapshot", Snapshot(p.vm.uuid, p.snapshot.snap_key),
                  [Snapshot.status.set(SNAPSHOT_PENDING)],
                  condition=Snapshot.status == SNAPSHOT_OK)

    try:
        create_record(image, lifecycle.pending_log(task, detail), errs, also=lock_snapshot,
                      extra=[("task", task),
                             ("attach", audit.attach_entry(image, principal.username, task_id))])
    except errors.ValidationFailed:
        if errs:
            raise
        # only the snapshot lock is left to have failed: someone else is using the snapshot
        raise errors.ExpectationFailed(http_texts.SNAPSHOT_STATUS_NOT_OK) from None
    cfg = settings()
    lifecycle.start(task, {"timeouts": {"export": cfg.export_timeout_seconds,
                                        "heartbeat": cfg.export_heartbeat_seconds}})
    return Outcome(None, p.vm.dc, task_id, status=201, pending=True)


def _new_image(name: str, p: SnapshotImagePlan, task_id: str) -> Image:
    disk, v = p.vm.disks[p.disk_id - 1], p.values
    image = Image(name, uuid=str(uuidlib.uuid4()), alias=v["alias"], version=v["version"],
                  owner=v["owner"], access=v["access"], desc=v["desc"], ostype=p.vm.ostype,
                  size=int(disk.size or 0), resize=v["resize"], deploy=v["deploy"],
                  tags=v["tags"], status=int(ImageStatus.PENDING),
                  created=datetime.now(UTC), dc_bound=p.vm.dc, dcs=[p.vm.dc],
                  src_vm=p.vm.uuid, src_snap=p.snapshot.snap_key, task_id=task_id)
    image.manifest = record_manifest(image, {})
    return image


def _export_request(p: SnapshotImagePlan, snapname: str) -> dict[str, Any]:
    disk = p.vm.disks[p.disk_id - 1]
    return {"vm_uuid": p.vm.uuid, "snap_key": p.snapshot.snap_key, "hostname": p.vm.hostname,
            "node": p.vm.node,
            "zfs_filesystem": disk.zfs_filesystem,
            "zfs_snapshot": p.snapshot.zfs_name or snapname, "disk_id": p.disk_id}
