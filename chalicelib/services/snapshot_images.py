"""POST /vm/<vm>/snapshot/<snap>/image/<name>: an image from a VM disk snapshot (SPEC §4.7)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain import image_form as form
from chalicelib.domain.fields import image_name_error, to_int
from chalicelib.domain.image_view import STATUS_PENDING
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import new_task_id
from chalicelib.models import Datacenter, Image, Snapshot, Vm
from chalicelib.services import image_records as records
from chalicelib.services.image_common import (
    Outcome,
    active_user_exists,
    attach_log,
    callback_spec,
    check_order_by,
    create_record,
    find_image,
    image_server,
    require_image_admin,
    start_task,
)

OPERATIONAL = frozenset(("running", "stopped", "stopping", "frozen"))
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass
class SnapshotImagePlan:
    """Everything validated; what the workflow needs to create the image."""

    vm: Vm
    snapshot: Snapshot
    disk_index: int
    values: dict[str, Any]


def find_vm(hostname_or_uuid: str) -> Vm | None:
    """By uuid or hostname; a deleted VM's tombstone is not a VM."""
    vm = None
    if UUID_RE.match(hostname_or_uuid):
        try:
            vm = Vm.get(hostname_or_uuid.lower())
        except DoesNotExist:
            pass
    if vm is None:
        vm = next(iter(Vm.hostname_index.query(hostname_or_uuid, limit=1)), None)
    return None if vm is None or vm.deleted else vm


def plan(principal: Principal, vm_ref: str, snapname: str, name: str,
         data: dict[str, Any], params: dict[str, str]) -> SnapshotImagePlan:
    require_image_admin(principal)
    vm = find_vm(vm_ref)
    if vm is None:
        raise errors.NotFound(errors.VM_NOT_FOUND)
    if not principal.is_image_admin(vm.dc):
        raise errors.PermissionDenied()

    disk_id, error = to_int(data.get("disk_id", 1))
    if error or disk_id is None or not 1 <= disk_id <= len(vm.disks or []):
        raise errors.InvalidInput(errors.INVALID_DISK_ID)
    try:
        snapshot = Snapshot.get(vm.uuid, Snapshot.key_for(disk_id, snapname))
    except DoesNotExist:
        snapshot = None
    if snapshot is None or snapshot.deleted:
        raise errors.NotFound(errors.SNAPSHOT_NOT_FOUND)
    if find_image(name) is not None:
        raise errors.AlreadyExists()
    check_order_by(data, params)

    errs = form.Errors()
    name_error = image_name_error(name)
    if name_error:
        errs.add("name", name_error)
    values = {"alias": name, "access": 3, "owner": principal.username, "desc": "",
              "version": "1.0", "resize": False, "deploy": False, "tags": []}
    cleaned_input = {k: v for k, v in data.items() if k != "dc_bound"}  # forced to the VM's DC
    values.update(form.clean(cleaned_input, [f for f in form.UPDATABLE if f != "dc_bound"], errs))
    if not errs:
        _check(values, vm.dc, principal, errs)
    if errs:
        raise errors.ValidationFailed(errs)

    if not settings().image_server_enabled:
        raise errors.PreconditionRequired(errors.IMAGE_SERVER_NOT_AVAILABLE)
    if vm.status not in OPERATIONAL:
        raise errors.Locked(errors.VM_NOT_OPERATIONAL)
    if snapshot.status != "ok":
        raise errors.ExpectationFailed(errors.SNAPSHOT_STATUS_NOT_OK)
    return SnapshotImagePlan(vm, snapshot, disk_id, values)


def _check(values: dict[str, Any], dc_name: str, principal: Principal, errs: form.Errors) -> None:
    if values["owner"] != principal.username and not active_user_exists(values["owner"]):
        errs.add("owner", form.owner_missing(values["owner"]))
        return
    key = records.alias_guard(values["alias"], values["version"])
    if records.guard_owners([key]).get(key):
        errs.add("alias", form.ALIAS_IN_USE)
    try:
        dc = Datacenter.get(dc_name)
        if dc.image_limit is not None and dc.image_count >= dc.image_limit:
            errs.add("non_field_errors", form.LIMIT_REACHED)
    except DoesNotExist:
        pass  # a VM's DC that this service has not heard of yet has no limit


def create_from_snapshot(principal: Principal, vm_ref: str, snapname: str, name: str,
                         data: dict[str, Any], params: dict[str, str]) -> Outcome:
    """Create the pending image, lock the snapshot, start the export workflow → 201."""
    import uuid as uuidlib

    from chalicelib.services import jobs, manifests

    p = plan(principal, vm_ref, snapname, name, data, params)
    errs = form.Errors()
    callback = callback_spec(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    image_server("snapshot")
    try:
        Datacenter.get(p.vm.dc)
    except DoesNotExist:
        raise errors.NotFound(errors.DC_NOT_FOUND)

    disk = p.vm.disks[p.disk_index - 1]
    task_id = new_task_id()
    v = p.values
    image = Image(name, uuid=str(uuidlib.uuid4()), alias=v["alias"], version=v["version"],
                  owner=v["owner"], access=v["access"], desc=v["desc"], ostype=p.vm.ostype,
                  size=int(disk.size or 0), resize=v["resize"], deploy=v["deploy"],
                  tags=v["tags"], status=STATUS_PENDING, created=datetime.now(timezone.utc),
                  dc_bound=p.vm.dc, dcs=[p.vm.dc], src_vm=p.vm.uuid, src_snap=p.snapshot.snap_key,
                  task_id=task_id)
    image.manifest = manifests.build_for(image, {})
    task = jobs.new_task(
        task_id=task_id, operation="snapshot", image=image, creator=principal.username,
        dc=p.vm.dc, callback=callback,
        request={"vm_uuid": p.vm.uuid, "snap_key": p.snapshot.snap_key,
                 "hostname": p.vm.hostname, "zfs_filesystem": disk.zfs_filesystem,
                 "zfs_snapshot": p.snapshot.zfs_name or snapname, "disk_id": p.disk_index},
        view={"view": "image_snapshot", "method": "POST", "name": name,
              "hostname": p.vm.hostname, "snapname": snapname, "disk_id": p.disk_index})
    detail = {"hostname": p.vm.hostname, "snapname": snapname, "disk_id": p.disk_index,
              **{key: v[key] for key in form.UPDATABLE if key in v}}
    def lock_snapshot(tx: records.Tx) -> None:  # ok -> pending, in the same transaction
        tx.update("snapshot", Snapshot(p.vm.uuid, p.snapshot.snap_key),
                  [Snapshot.status.set("pending")], condition=Snapshot.status == "ok")

    try:
        create_record(image, jobs.pending_log(task, detail), errs, also=lock_snapshot,
                      extra=[("task", task), ("attach", attach_log(image, principal, task_id))])
    except errors.ValidationFailed:
        if errs:
            raise
        # only the snapshot lock is left to have failed: someone else is using the snapshot
        raise errors.ExpectationFailed(errors.SNAPSHOT_STATUS_NOT_OK)
    cfg = settings()
    start_task(task, {"timeouts": {"export": cfg.export_timeout_seconds,
                                   "heartbeat": cfg.export_heartbeat_seconds}})
    return Outcome(None, p.vm.dc, task_id, status=201, pending=True)
