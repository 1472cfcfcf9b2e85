"""Platform events (SPEC §8, source `danube.platform`): parsing and checking, nothing else.

Each parser takes the EventBridge `detail` and returns a plain dict of clean values, or raises
`MalformedEvent` with a reason for the log line. Unknown keys are ignored.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.domain.fields import is_uuid
from chalicelib.domain.permissions import normalise_roles
from chalicelib.domain.vocabulary import SNAPSHOT_STATUSES

VM_STATE = "VM State"
VM_DELETED = "VM Deleted"
SNAPSHOT_STATE = "Snapshot State"
SNAPSHOT_DELETED = "Snapshot Deleted"
USER_STATE = "User State"
DC_STATE = "DC State"

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,253}$")


Detail = dict[str, Any]


class MalformedEvent(ValueError):
    pass


def _req(detail: Detail, key: str) -> Any:
    if key not in detail or detail[key] is None:
        raise MalformedEvent(f"missing {key}")
    return detail[key]


def _uuid(detail: Detail, key: str) -> str:
    value = _req(detail, key)
    if not isinstance(value, str) or not is_uuid(value.lower()):
        raise MalformedEvent(f"{key} is not a uuid")
    return value.lower()


def _name(detail: Detail, key: str) -> str:
    value = _req(detail, key)
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise MalformedEvent(f"{key} is not a valid name")
    return value


def _int(detail: Detail, key: str, *, minimum: int = 0, required: bool = True) -> int | None:
    value = detail.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MalformedEvent(f"{key} must be an integer >= {minimum}")
    return value


def _bool(detail: Detail, key: str) -> bool:
    value = detail.get(key, False)
    if not isinstance(value, bool):
        raise MalformedEvent(f"{key} must be a boolean")
    return value


def _disks(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise MalformedEvent("disks must be a list")
    disks = []
    for disk in raw:
        if not isinstance(disk, dict):
            raise MalformedEvent("disk must be an object")
        image_uuid = disk.get("image_uuid")
        if image_uuid is not None and (not isinstance(image_uuid, str)
                                       or not is_uuid(image_uuid.lower())):
            raise MalformedEvent("disk image_uuid is not a uuid")
        zfs = disk.get("zfs_filesystem")
        if zfs is not None and not isinstance(zfs, str):
            raise MalformedEvent("disk zfs_filesystem must be a string")
        disks.append({"image_uuid": image_uuid.lower() if image_uuid else None,
                      "size": _int(disk, "size"), "zfs_filesystem": zfs})
    return disks


def vm_state(d: Detail) -> Detail:
    status = _req(d, "status")
    if not isinstance(status, str) or not status:
        raise MalformedEvent("status must be a string")
    owner = d.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise MalformedEvent("owner must be a string")
    ostype = _int(d, "ostype", minimum=1)
    if ostype not in range(1, 7):
        raise MalformedEvent("ostype must be 1..6")
    node = d.get("node")
    if node is not None and (not isinstance(node, str) or not NAME_RE.match(node)):
        raise MalformedEvent("node is not a valid name")
    return {"uuid": _uuid(d, "uuid"), "hostname": _name(d, "hostname"), "dc": _name(d, "dc"),
            "owner": owner, "status": status.lower(), "ostype": ostype, "node": node,
            "disks": _disks(d.get("disks", [])), "version": _int(d, "version")}


def vm_deleted(d: Detail) -> Detail:
    return {"uuid": _uuid(d, "uuid"), "version": _int(d, "version")}


def _snapshot_status(raw: Any) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in SNAPSHOT_STATUSES:
        return SNAPSHOT_STATUSES[raw]
    if isinstance(raw, str) and raw.lower() in SNAPSHOT_STATUSES.values():
        return raw.lower()
    raise MalformedEvent("status must be one of ok, pending, rollback, lost")


def snapshot_state(d: Detail) -> Detail:
    zfs_name = d.get("zfs_name")
    if zfs_name is not None and not isinstance(zfs_name, str):
        raise MalformedEvent("zfs_name must be a string")
    return {"vm_uuid": _uuid(d, "vm_uuid"), "name": _name(d, "name"),
            "disk_id": _int(d, "disk_id", minimum=1), "zfs_name": zfs_name,
            "status": _snapshot_status(_req(d, "status")), "version": _int(d, "version")}


def snapshot_deleted(d: Detail) -> Detail:
    return {"vm_uuid": _uuid(d, "vm_uuid"), "name": _name(d, "name"),
            "disk_id": _int(d, "disk_id", minimum=1), "version": _int(d, "version")}


def user_state(d: Detail) -> Detail:
    roles = d.get("dc_roles", {})
    if not isinstance(roles, dict):
        raise MalformedEvent("dc_roles must be an object")
    for names in roles.values():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise MalformedEvent("dc_roles values must be lists of role names")
    clean = normalise_roles(roles)
    return {"username": _name(d, "username"), "is_super_admin": _bool(d, "is_super_admin"),
            "is_active": _bool({"is_active": d.get("is_active", True)}, "is_active"),
            "dc_roles": clean, "version": _int(d, "version")}


def dc_state(d: Detail) -> Detail:
    return {"name": _name(d, "name"),
            "image_limit": _int(d, "image_limit", required=False),
            "version": _int(d, "version")}


PARSERS: dict[str, Callable[[Detail], Detail]] = {
    VM_STATE: vm_state, VM_DELETED: vm_deleted, SNAPSHOT_STATE: snapshot_state,
    SNAPSHOT_DELETED: snapshot_deleted, USER_STATE: user_state, DC_STATE: dc_state,
}


def parse(detail_type: Any, detail: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(detail_type, str) or detail_type not in PARSERS:
        raise MalformedEvent(f"unknown detail-type {detail_type!r}")
    if not isinstance(detail, dict):
        raise MalformedEvent("detail must be an object")
    return detail_type, PARSERS[detail_type](detail)
