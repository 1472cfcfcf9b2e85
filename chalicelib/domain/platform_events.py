"""Platform events (SPEC §8, source `danube.platform`): parsing and checking, nothing else.

The formats are written down as JSON Schema (draft 2020-12) in chalicelib/schemas/events/
(`SCHEMA_FILES`): that is the contract the platform publishes against. This parser is what
the service runs (no schema library in the Lambda bundle); tests/domain/test_event_schemas.py
proves that it accepts exactly what the schemas accept, on a corpus and on generated events.

Each parser takes the EventBridge `detail` and returns a plain dict of clean values, or raises
`MalformedEvent`: one line naming the field (`detail.disks[0].size: -1 is not an integer
>= 0`) and a short `reason` code for the dropped-events metric. Unknown keys are ignored.

Types: integers are JSON numbers without a fraction (`5` or `5.0`, never `true`); uuids any
case, stored lower-case; names `NAME_RE`. VM `status` is free text, stored lower-case.
Snapshot `status` is "ok", "pending", "rollback" or "lost"; Danube Cloud's codes 1..4 are
still accepted for compatibility.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.domain.fields import is_uuid
from chalicelib.domain.limits import MAX_USERNAME_CHARS
from chalicelib.domain.permissions import normalise_roles
from chalicelib.domain.vocabulary import SNAPSHOT_STATUSES

VM_STATE = "VM State"
VM_DELETED = "VM Deleted"
SNAPSHOT_STATE = "Snapshot State"
SNAPSHOT_DELETED = "Snapshot Deleted"
USER_STATE = "User State"
DC_STATE = "DC State"

# `\Z`, not `$`: "name\n" is not a name (`$` also matches before a final newline).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,253}\Z")
NAME_RULE = (f"1-{MAX_USERNAME_CHARS} letters, digits, '.', '_', '@', '-', starting with a "
             "letter or digit")
# A snapshot's short ZFS name (Danube Cloud's `es-7`), the part after `<filesystem>@`, as ZFS
# checks a name component (zfs_namecheck.c): letters, digits, '_', '-', '.', ':', ' '; at most
# 255 bytes (ZFS_MAX_DATASET_NAME_LEN 256 includes the end); never "." or "..". So no '@'
# and no '/': a full name here would make the agent send `<fs>@<fs>@<snap>`.
ZFS_SNAPSHOT_RE = re.compile(r"^[A-Za-z0-9_.: -]{1,255}\Z")
ZFS_SNAPSHOT_RULE = ("a ZFS snapshot's short name (1-255 letters, digits, '_', '-', '.', ':' or "
                     "spaces; not '.' or '..'; no '@' or '/')")
# A disk's ZFS filesystem or volume (`zones/<uuid>-disk0`): such components joined by '/',
# at most 255 bytes, no '.' or '..' component, and never a snapshot ('@').
# A component is never "." or "..": it has a character other than '.', or three dots or more.
_ZFS_COMPONENT = r"(?:\.{0,2}[A-Za-z0-9_: -][A-Za-z0-9_.: -]*|\.{3,}[A-Za-z0-9_.: -]*)"
ZFS_DATASET_RE = re.compile(
    r"^(?!.{256})" + _ZFS_COMPONENT + r"(?:/" + _ZFS_COMPONENT + r")*\Z", re.S)
ZFS_DATASET_RULE = ("a ZFS dataset name (components of letters, digits, '_', '-', '.', ':' or "
                    "spaces joined by '/'; at most 255 characters; no '.' or '..' component; "
                    "no '@')")
# More disks than any VM of the platform has would only make the VM's record too large for
# DynamoDB (400 KB): the event is refused as malformed, not retried until it is lost.
MAX_VM_DISKS = 64

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "events"
SCHEMA_FILES = {
    VM_STATE: "vm-state.json", VM_DELETED: "vm-deleted.json",
    SNAPSHOT_STATE: "snapshot-state.json", SNAPSHOT_DELETED: "snapshot-deleted.json",
    USER_STATE: "user-state.json", DC_STATE: "dc-state.json",
}

# `MalformedEvent.reason`: few and fixed (a metric dimension), never taken from the event.
UNKNOWN_DETAIL_TYPE = "unknown-detail-type"
DETAIL_NOT_OBJECT = "detail-not-object"
MISSING_FIELD = "missing-field"
INVALID_FIELD = "invalid-field"
REASONS = (UNKNOWN_DETAIL_TYPE, DETAIL_NOT_OBJECT, MISSING_FIELD, INVALID_FIELD)

Detail = dict[str, Any]


class MalformedEvent(ValueError):
    """str(): one line, `<field path>: <what is wrong>`; `field`: the path (`detail.status`),
    `reason`: one of REASONS."""

    def __init__(self, field: str, problem: str, reason: str = INVALID_FIELD) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.reason = reason


def shown(value: Any, limit: int = 40) -> str:
    """A value as JSON, cut short: it goes into one log line."""
    try:
        text = json.dumps(value, default=repr)
    except (ValueError, RecursionError):  # circular or too deep: never raise anything else
        text = repr(type(value))
    return text if len(text) <= limit else text[:limit] + "..."


def _at(path: str, key: str) -> str:
    return f"{path}.{key}"


def _present(detail: Detail, key: str, path: str) -> Any:
    if key not in detail:
        raise MalformedEvent(_at(path, key), "missing (required)", MISSING_FIELD)
    return detail[key]


def _bad(path: str, value: Any, what: str) -> MalformedEvent:
    return MalformedEvent(path, f"{shown(value)} is not {what}")


def _uuid_value(value: Any, path: str) -> str:
    if not isinstance(value, str) or not is_uuid(value.lower()):
        raise _bad(path, value, "a uuid")
    return value.lower()


def _uuid(detail: Detail, key: str, path: str = "detail") -> str:
    return _uuid_value(_present(detail, key, path), _at(path, key))


def _name_value(value: Any, path: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise _bad(path, value, f"a name ({NAME_RULE})")
    return value


def _name(detail: Detail, key: str, path: str = "detail") -> str:
    return _name_value(_present(detail, key, path), _at(path, key))


def as_integer(value: Any) -> int | None:
    """A JSON integer (JSON Schema's: a number without a fraction, so 5.0 too; not a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _int_value(value: Any, path: str, minimum: int = 0, maximum: int | None = None) -> int:
    number = as_integer(value)
    if number is None or number < minimum or (maximum is not None and number > maximum):
        what = f"an integer >= {minimum}" if maximum is None else \
            f"an integer {minimum}..{maximum}"
        raise _bad(path, value, what)
    return number


def _int(detail: Detail, key: str, path: str = "detail", *, minimum: int = 0,
         maximum: int | None = None) -> int:
    return _int_value(_present(detail, key, path), _at(path, key), minimum, maximum)


def _optional(detail: Detail, key: str, path: str, check: Callable[[Any, str], Any]) -> Any:
    """Absent or null: None; else `check(value, path)`."""
    value = detail.get(key)
    return None if value is None else check(value, _at(path, key))


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _bad(path, value, "a string")
    return value


def _zfs_snapshot(value: Any, path: str) -> str:
    if not isinstance(value, str) or not ZFS_SNAPSHOT_RE.match(value) or value in (".", ".."):
        raise _bad(path, value, ZFS_SNAPSHOT_RULE)
    return value


def _zfs_dataset(value: Any, path: str) -> str:
    if not isinstance(value, str) or not ZFS_DATASET_RE.match(value):
        raise _bad(path, value, ZFS_DATASET_RULE)
    return value


def _bool(detail: Detail, key: str, default: bool) -> bool:
    value = detail.get(key, default)
    if not isinstance(value, bool):
        raise _bad(_at("detail", key), value, "a boolean")
    return value


def _disks(detail: Detail) -> list[dict[str, Any]]:
    raw = detail.get("disks", [])
    if not isinstance(raw, list) or len(raw) > MAX_VM_DISKS:
        raise _bad("detail.disks", raw, f"a list of at most {MAX_VM_DISKS} disks")
    disks = []
    for index, disk in enumerate(raw):
        path = f"detail.disks[{index}]"
        if not isinstance(disk, dict):
            raise _bad(path, disk, "an object")
        disks.append({"image_uuid": _optional(disk, "image_uuid", path, _uuid_value),
                      "size": _int(disk, "size", path),
                      "zfs_filesystem": _optional(disk, "zfs_filesystem", path, _zfs_dataset)})
    return disks


def vm_state(d: Detail) -> Detail:
    status = _present(d, "status", "detail")
    if not isinstance(status, str) or not status:
        raise _bad("detail.status", status, "a non-empty string")
    return {"uuid": _uuid(d, "uuid"), "hostname": _name(d, "hostname"), "dc": _name(d, "dc"),
            "owner": _optional(d, "owner", "detail", _string), "status": status.lower(),
            "ostype": _int(d, "ostype", minimum=1, maximum=6),
            "node": _optional(d, "node", "detail", _name_value),
            "disks": _disks(d), "version": _int(d, "version")}


def vm_deleted(d: Detail) -> Detail:
    return {"uuid": _uuid(d, "uuid"), "version": _int(d, "version")}


def _snapshot_status(raw: Any) -> str:
    if isinstance(raw, str) and raw in SNAPSHOT_STATUSES.values():
        return raw
    number = as_integer(raw)
    if number in SNAPSHOT_STATUSES:
        return SNAPSHOT_STATUSES[number]
    raise _bad("detail.status", raw, 'one of "ok", "pending", "rollback", "lost" (or 1..4)')


def snapshot_state(d: Detail) -> Detail:
    return {"vm_uuid": _uuid(d, "vm_uuid"), "name": _name(d, "name"),
            "disk_id": _int(d, "disk_id", minimum=1),
            "zfs_name": _optional(d, "zfs_name", "detail", _zfs_snapshot),
            "status": _snapshot_status(_present(d, "status", "detail")),
            "version": _int(d, "version")}


def snapshot_deleted(d: Detail) -> Detail:
    return {"vm_uuid": _uuid(d, "vm_uuid"), "name": _name(d, "name"),
            "disk_id": _int(d, "disk_id", minimum=1), "version": _int(d, "version")}


def user_state(d: Detail) -> Detail:
    roles = d.get("dc_roles", {})
    if not isinstance(roles, dict):
        raise _bad("detail.dc_roles", roles, "an object")
    for dc, names in roles.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _bad(f"detail.dc_roles[{shown(dc)}]", names, "a list of role names")
    return {"username": _name(d, "username"),
            "is_super_admin": _bool(d, "is_super_admin", False),
            "is_active": _bool(d, "is_active", True),
            "dc_roles": normalise_roles(roles), "version": _int(d, "version")}


def dc_state(d: Detail) -> Detail:
    return {"name": _name(d, "name"),
            "image_limit": _optional(d, "image_limit", "detail", _int_value),
            "version": _int(d, "version")}


PARSERS: dict[str, Callable[[Detail], Detail]] = {
    VM_STATE: vm_state, VM_DELETED: vm_deleted, SNAPSHOT_STATE: snapshot_state,
    SNAPSHOT_DELETED: snapshot_deleted, USER_STATE: user_state, DC_STATE: dc_state,
}


def parse(detail_type: Any, detail: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(detail_type, str) or detail_type not in PARSERS:
        raise MalformedEvent("detail-type", f"unknown detail-type {shown(detail_type)}",
                             UNKNOWN_DETAIL_TYPE)
    if not isinstance(detail, dict):
        raise MalformedEvent("detail", f"{shown(detail)} is not an object", DETAIL_NOT_OBJECT)
    return detail_type, PARSERS[detail_type](detail)
