"""Platform event parsing (SPEC §8): chalicelib/domain/platform_events.py."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import platform_events as ev
from chalicelib.domain.platform_events import MalformedEvent, parse

VM = "0c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
IMG = "3a4f1b62-8c1e-4f5a-9d2b-0c6e7f8a9b10"

VM_STATE = {
    "uuid": VM.upper(), "hostname": "web01.example.com", "dc": "main", "owner": "bob",
    "status": "Running", "ostype": 1, "version": 5, "extra": "ignored",
    "disks": [
        {"image_uuid": IMG.upper(), "size": 10240, "zfs_filesystem": "zones/web01-disk0"},
        {"image_uuid": None, "size": 1024, "zfs_filesystem": "zones/web01-disk1"},
    ],
}
VM_DELETED = {"uuid": VM, "version": 6}
SNAPSHOT_STATE = {"vm_uuid": VM, "name": "snap1", "disk_id": 1,
                  "zfs_name": "es-7", "status": 1, "version": 3}
SNAPSHOT_DELETED = {"vm_uuid": VM, "name": "snap1", "disk_id": 2, "version": 4}
USER_STATE = {"username": "alice@example.com", "is_super_admin": False, "is_active": True,
              "dc_roles": {"main": ["image_admin", "admin", "bogus"], "other": ["bogus"],
                           "third": []},
              "version": 2}
DC_STATE = {"name": "main", "image_limit": 5, "version": 1}

VALID = {
    "VM State": VM_STATE, "VM Deleted": VM_DELETED, "Snapshot State": SNAPSHOT_STATE,
    "Snapshot Deleted": SNAPSHOT_DELETED, "User State": USER_STATE, "DC State": DC_STATE,
}


def with_(base: dict, **changes) -> dict:
    detail = copy.deepcopy(base)
    detail.update(changes)
    return detail


def without(base: dict, *keys: str) -> dict:
    detail = copy.deepcopy(base)
    for key in keys:
        detail.pop(key)
    return detail


# --------------------------------------------------------------------------- valid events
def test_detail_type_names():
    assert (ev.VM_STATE, ev.VM_DELETED, ev.SNAPSHOT_STATE, ev.SNAPSHOT_DELETED, ev.USER_STATE,
            ev.DC_STATE) == ("VM State", "VM Deleted", "Snapshot State", "Snapshot Deleted",
                             "User State", "DC State")
    assert set(ev.PARSERS) == set(VALID)


def test_vm_state():
    assert parse("VM State", VM_STATE) == ("VM State", {
        "uuid": VM, "hostname": "web01.example.com", "dc": "main", "owner": "bob",
        "status": "running", "ostype": 1, "node": None, "version": 5,
        "disks": [
            {"image_uuid": IMG, "size": 10240, "zfs_filesystem": "zones/web01-disk0"},
            {"image_uuid": None, "size": 1024, "zfs_filesystem": "zones/web01-disk1"},
        ],
    })


def test_vm_state_optional_parts():
    _, clean = parse("VM State", without(VM_STATE, "disks", "owner"))
    assert clean["disks"] == []
    assert clean["owner"] is None
    _, clean = parse("VM State", with_(VM_STATE, owner=None, disks=[{"size": 0}]))
    assert clean["owner"] is None
    assert clean["disks"] == [{"image_uuid": None, "size": 0, "zfs_filesystem": None}]


def test_vm_state_names_the_compute_node():
    # The node agent that exports this VM's snapshots listens on the node's own queue.
    assert parse("VM State", with_(VM_STATE, node="cn01.example.com"))[1]["node"] == \
        "cn01.example.com"
    for bad in ("", "bad node!", 7, "x" * 300):
        with pytest.raises(MalformedEvent, match="node"):
            parse("VM State", with_(VM_STATE, node=bad))


@pytest.mark.parametrize("ostype", [1, 2, 3, 4, 5, 6])
def test_vm_state_ostypes(ostype):
    assert parse("VM State", with_(VM_STATE, ostype=ostype))[1]["ostype"] == ostype


def test_vm_deleted():
    assert parse("VM Deleted", VM_DELETED) == ("VM Deleted", {"uuid": VM, "version": 6})
    assert parse("VM Deleted", with_(VM_DELETED, version=0))[1]["version"] == 0


@pytest.mark.parametrize("raw, expected", [
    ("ok", "ok"), ("pending", "pending"), ("rollback", "rollback"), ("lost", "lost"),
    # Danube Cloud's numeric codes: accepted for compatibility, stored as the text
    (1, "ok"), (2, "pending"), (3, "rollback"), (4, "lost"), (2.0, "pending"),
])
def test_snapshot_state_status(raw, expected):
    _, clean = parse("Snapshot State", with_(SNAPSHOT_STATE, status=raw))
    assert clean["status"] == expected


@pytest.mark.parametrize("raw", ["PENDING", "Rollback", "OK", " ok", "ok\n"])
def test_snapshot_status_text_is_the_canonical_lower_case(raw):
    """A closed vocabulary: exactly as the schema lists it (chalicelib/schemas/events)."""
    with pytest.raises(MalformedEvent, match=r"^detail\.status: .* is not one of"):
        parse("Snapshot State", with_(SNAPSHOT_STATE, status=raw))


def test_vm_status_is_free_text_stored_lower_case():
    assert parse("VM State", with_(VM_STATE, status="Deploying"))[1]["status"] == "deploying"


def test_integers_may_be_written_without_a_fraction():
    """JSON Schema's integer: a number whose fraction is zero, so 5.0 is 5 (stored as int)."""
    _, clean = parse("VM State", with_(VM_STATE, ostype=2.0, version=5.0,
                                       disks=[with_(BAD_VM_DISK, size=1024.0)]))
    assert (clean["ostype"], clean["version"], clean["disks"][0]["size"]) == (2, 5, 1024)
    assert all(type(v) is int for v in (clean["ostype"], clean["version"],
                                        clean["disks"][0]["size"]))
    assert parse("DC State", with_(DC_STATE, image_limit=3.0))[1]["image_limit"] == 3


def test_names_and_uuids_end_where_the_text_ends():
    """`$` in Python also matches before a final newline; the parser does not let it."""
    for detail_type, detail, key in [("VM State", VM_STATE, "hostname"),
                                     ("User State", USER_STATE, "username"),
                                     ("VM Deleted", VM_DELETED, "uuid")]:
        with pytest.raises(MalformedEvent, match=f"^detail\\.{key}: "):
            parse(detail_type, with_(detail, **{key: detail[key] + "\n"}))


def test_snapshot_status_table():
    assert ev.SNAPSHOT_STATUSES == {1: "ok", 2: "pending", 3: "rollback", 4: "lost"}


def test_snapshot_state():
    assert parse("Snapshot State", with_(SNAPSHOT_STATE, vm_uuid=VM.upper())) == (
        "Snapshot State", {"vm_uuid": VM, "name": "snap1", "disk_id": 1,
                           "zfs_name": "es-7", "status": "ok", "version": 3})
    assert parse("Snapshot State", without(SNAPSHOT_STATE, "zfs_name"))[1]["zfs_name"] is None


def test_snapshot_deleted():
    assert parse("Snapshot Deleted", SNAPSHOT_DELETED) == (
        "Snapshot Deleted", {"vm_uuid": VM, "name": "snap1", "disk_id": 2, "version": 4})


def test_user_state_drops_unknown_roles():
    assert parse("User State", USER_STATE) == ("User State", {
        "username": "alice@example.com", "is_super_admin": False, "is_active": True,
        "dc_roles": {"main": ["admin", "image_admin"]}, "version": 2,
    })


def test_user_state_all_roles_sorted():
    detail = with_(USER_STATE, dc_roles={"a": ["image_import_admin", "image_admin", "admin",
                                               "admin"]})
    assert parse("User State", detail)[1]["dc_roles"] == {
        "a": ["admin", "image_admin", "image_import_admin"]}


def test_user_state_defaults():
    _, clean = parse("User State", {"username": "bob", "version": 0})
    assert clean == {"username": "bob", "is_super_admin": False, "is_active": True,
                     "dc_roles": {}, "version": 0}


def test_user_state_flags():
    _, clean = parse("User State", with_(USER_STATE, is_super_admin=True, is_active=False))
    assert (clean["is_super_admin"], clean["is_active"]) == (True, False)


@pytest.mark.parametrize("limit, expected", [(5, 5), (0, 0), (None, None)])
def test_dc_state(limit, expected):
    assert parse("DC State", with_(DC_STATE, image_limit=limit)) == (
        "DC State", {"name": "main", "image_limit": expected, "version": 1})


def test_dc_state_without_limit():
    assert parse("DC State", without(DC_STATE, "image_limit"))[1]["image_limit"] is None


# --------------------------------------------------------------------------- malformed events
BAD_VM_DISK = {"image_uuid": IMG, "size": 1, "zfs_filesystem": "z"}

MALFORMED = [
    # (detail-type, detail, word expected in the reason)
    ("VM State", without(VM_STATE, "uuid"), "uuid"),
    ("VM State", with_(VM_STATE, uuid=None), "uuid"),
    ("VM State", with_(VM_STATE, uuid="not-a-uuid"), "uuid"),
    ("VM State", with_(VM_STATE, uuid=VM + "0"), "uuid"),
    ("VM State", with_(VM_STATE, uuid=123), "uuid"),
    ("VM State", without(VM_STATE, "hostname"), "hostname"),
    ("VM State", with_(VM_STATE, hostname="-bad"), "hostname"),
    ("VM State", with_(VM_STATE, hostname="bad host"), "hostname"),
    ("VM State", with_(VM_STATE, hostname=5), "hostname"),
    ("VM State", without(VM_STATE, "dc"), "dc"),
    ("VM State", with_(VM_STATE, dc=""), "dc"),
    ("VM State", with_(VM_STATE, dc=["main"]), "dc"),
    ("VM State", without(VM_STATE, "status"), "status"),
    ("VM State", with_(VM_STATE, status=""), "status"),
    ("VM State", with_(VM_STATE, status=1), "status"),
    ("VM State", with_(VM_STATE, owner=5), "owner"),
    ("VM State", without(VM_STATE, "ostype"), "ostype"),
    ("VM State", with_(VM_STATE, ostype=0), "ostype"),
    ("VM State", with_(VM_STATE, ostype=7), "ostype"),
    ("VM State", with_(VM_STATE, ostype="1"), "ostype"),
    ("VM State", with_(VM_STATE, ostype=True), "ostype"),
    ("VM State", with_(VM_STATE, ostype=1.5), "ostype"),
    ("VM State", with_(VM_STATE, ostype=float("nan")), "ostype"),
    ("VM State", without(VM_STATE, "version"), "version"),
    ("VM State", with_(VM_STATE, version=-1), "version"),
    ("VM State", with_(VM_STATE, version="5"), "version"),
    ("VM State", with_(VM_STATE, version=True), "version"),
    ("VM State", with_(VM_STATE, version=1.5), "version"),
    ("VM State", with_(VM_STATE, disks="x"), "disks"),
    ("VM State", with_(VM_STATE, disks=None), "disks"),
    ("VM State", with_(VM_STATE, disks={"0": BAD_VM_DISK}), "disks"),
    ("VM State", with_(VM_STATE, disks=[5]), "disk"),
    ("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, image_uuid="bad")]), "image_uuid"),
    ("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, image_uuid=5)]), "image_uuid"),
    ("VM State", with_(VM_STATE, disks=[without(BAD_VM_DISK, "size")]), "size"),
    ("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, size=-1)]), "size"),
    ("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, size=True)]), "size"),
    ("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, size="10")]), "size"),
    ("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, zfs_filesystem=5)]),
     "zfs_filesystem"),
    # a snapshot, a '.'/'..' component, an empty one, a character ZFS refuses, too long
    *[("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, zfs_filesystem=bad)]),
       "zfs_filesystem")
      for bad in ("zones/web01-disk0@es-7", "zones/../etc", "zones/./x", "..", "zones//x",
                  "/zones/x", "zones/x/", "zones/x#1", "zones/x\n", "z" * 256, "")],
    # more disks than a VM has would make its record too large for DynamoDB
    ("VM State", with_(VM_STATE, disks=[with_(BAD_VM_DISK, zfs_filesystem=None)] * 65),
     "disks"),
    ("VM Deleted", without(VM_DELETED, "uuid"), "uuid"),
    ("VM Deleted", with_(VM_DELETED, uuid="x"), "uuid"),
    ("VM Deleted", without(VM_DELETED, "version"), "version"),
    ("VM Deleted", with_(VM_DELETED, version=False), "version"),
    ("VM Deleted", with_(VM_DELETED, version=None), "version"),
    ("Snapshot State", without(SNAPSHOT_STATE, "vm_uuid"), "vm_uuid"),
    ("Snapshot State", with_(SNAPSHOT_STATE, vm_uuid="nope"), "vm_uuid"),
    ("Snapshot State", without(SNAPSHOT_STATE, "name"), "name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, name=""), "name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, name="bad name"), "name"),
    ("Snapshot State", without(SNAPSHOT_STATE, "disk_id"), "disk_id"),
    ("Snapshot State", with_(SNAPSHOT_STATE, disk_id=0), "disk_id"),
    ("Snapshot State", with_(SNAPSHOT_STATE, disk_id=True), "disk_id"),
    ("Snapshot State", with_(SNAPSHOT_STATE, disk_id="1"), "disk_id"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name=5), "zfs_name"),
    # a full ZFS name, where the short one belongs (the agent would send `fs@fs@snap`)
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name="zones/web01-disk0@es-7"), "zfs_name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name="es@7"), "zfs_name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name="zones/es-7"), "zfs_name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name=""), "zfs_name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name=".."), "zfs_name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name="es#7"), "zfs_name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name="es-7\n"), "zfs_name"),
    ("Snapshot State", with_(SNAPSHOT_STATE, zfs_name="e" * 256), "zfs_name"),
    ("Snapshot State", without(SNAPSHOT_STATE, "status"), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status=None), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status=0), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status=5), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status=True), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status="1"), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status="broken"), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status=1.5), "status"),
    ("Snapshot State", with_(SNAPSHOT_STATE, status="PENDING"), "status"),
    ("Snapshot State", without(SNAPSHOT_STATE, "version"), "version"),
    ("Snapshot Deleted", without(SNAPSHOT_DELETED, "vm_uuid"), "vm_uuid"),
    ("Snapshot Deleted", without(SNAPSHOT_DELETED, "name"), "name"),
    ("Snapshot Deleted", with_(SNAPSHOT_DELETED, disk_id=0), "disk_id"),
    ("Snapshot Deleted", with_(SNAPSHOT_DELETED, disk_id=False), "disk_id"),
    ("Snapshot Deleted", without(SNAPSHOT_DELETED, "version"), "version"),
    ("User State", without(USER_STATE, "username"), "username"),
    ("User State", with_(USER_STATE, username=5), "username"),
    ("User State", with_(USER_STATE, username="bad name"), "username"),
    ("User State", with_(USER_STATE, username="-bob"), "username"),
    ("User State", with_(USER_STATE, is_super_admin="true"), "is_super_admin"),
    ("User State", with_(USER_STATE, is_super_admin=1), "is_super_admin"),
    ("User State", with_(USER_STATE, is_active="yes"), "is_active"),
    ("User State", with_(USER_STATE, is_active=0), "is_active"),
    ("User State", with_(USER_STATE, dc_roles=["admin"]), "dc_roles"),
    ("User State", with_(USER_STATE, dc_roles="main:admin"), "dc_roles"),
    ("User State", with_(USER_STATE, dc_roles={"main": "admin"}), "dc_roles"),
    ("User State", with_(USER_STATE, dc_roles={"main": [1]}), "dc_roles"),
    ("User State", with_(USER_STATE, dc_roles={"main": None}), "dc_roles"),
    ("User State", without(USER_STATE, "version"), "version"),
    ("DC State", without(DC_STATE, "name"), "name"),
    ("DC State", with_(DC_STATE, name="bad/name"), "name"),
    ("DC State", with_(DC_STATE, name=7), "name"),
    ("DC State", with_(DC_STATE, image_limit=-1), "image_limit"),
    ("DC State", with_(DC_STATE, image_limit="5"), "image_limit"),
    ("DC State", with_(DC_STATE, image_limit=True), "image_limit"),
    ("DC State", with_(DC_STATE, image_limit=1.5), "image_limit"),
    ("DC State", without(DC_STATE, "version"), "version"),
    ("DC State", with_(DC_STATE, version="1"), "version"),
]


@pytest.mark.parametrize("detail_type, detail, word", MALFORMED,
                         ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(MALFORMED)])
def test_malformed(detail_type, detail, word):
    with pytest.raises(MalformedEvent) as info:
        parse(detail_type, detail)
    message = str(info.value)
    # one line, naming the field's path first: "detail.disks[0].size: -1 is not ..."
    assert message.startswith(info.value.field + ": ") and "\n" not in message
    assert info.value.field.startswith("detail.") and word in info.value.field
    assert info.value.reason in (ev.MISSING_FIELD, ev.INVALID_FIELD)
    assert isinstance(info.value, ValueError)


def test_reasons():
    """The metric's dimension: a few fixed codes, never text from the event."""
    def reason(detail_type, detail):
        with pytest.raises(MalformedEvent) as info:
            parse(detail_type, detail)
        return info.value.reason

    assert reason("VM Gone", {}) == ev.UNKNOWN_DETAIL_TYPE == "unknown-detail-type"
    assert reason("VM State", []) == ev.DETAIL_NOT_OBJECT == "detail-not-object"
    assert reason("VM State", without(VM_STATE, "uuid")) == ev.MISSING_FIELD == "missing-field"
    assert reason("VM State", with_(VM_STATE, uuid=None)) == ev.INVALID_FIELD
    assert reason("VM State", with_(VM_STATE, status=1)) == ev.INVALID_FIELD == "invalid-field"
    assert set(ev.REASONS) == {ev.UNKNOWN_DETAIL_TYPE, ev.DETAIL_NOT_OBJECT, ev.MISSING_FIELD,
                               ev.INVALID_FIELD}


def test_messages_name_the_field_and_the_value():
    def message(detail_type, detail):
        with pytest.raises(MalformedEvent) as info:
            parse(detail_type, detail)
        return str(info.value)

    assert message("VM State", with_(VM_STATE, status=1)) == \
        "detail.status: 1 is not a non-empty string"
    assert message("VM State", without(VM_STATE, "ostype")) == "detail.ostype: missing (required)"
    assert message("VM State", with_(VM_STATE, disks=[BAD_VM_DISK, with_(BAD_VM_DISK, size=-1)])) \
        == "detail.disks[1].size: -1 is not an integer >= 0"
    assert message("User State", with_(USER_STATE, dc_roles={"main": "admin"})) == \
        'detail.dc_roles["main"]: "admin" is not a list of role names'
    long = message("VM State", with_(VM_STATE, hostname="x y" * 1000))
    assert len(long) < 200 and long.startswith('detail.hostname: "x yx y')


@pytest.mark.parametrize("detail_type", ["VM Created", "vm state", "VM State ", "", None, 5])
def test_unknown_detail_type(detail_type):
    with pytest.raises(MalformedEvent, match="unknown detail-type"):
        parse(detail_type, VM_STATE)


# SPEC §8: malformed events never raise anything but MalformedEvent (which is logged and dropped).
@pytest.mark.parametrize("detail_type", [["VM State"], {"VM State": 1}])
def test_unhashable_detail_type(detail_type):
    with pytest.raises(MalformedEvent):
        parse(detail_type, VM_STATE)


@pytest.mark.parametrize("detail_type", sorted(VALID))
@pytest.mark.parametrize("detail", [None, [], [VM_STATE], "x", 5, True])
def test_non_dict_detail(detail_type, detail):
    with pytest.raises(MalformedEvent, match=r"^detail: .* is not an object$"):
        parse(detail_type, detail)


@pytest.mark.parametrize("detail_type", sorted(VALID))
def test_empty_detail(detail_type):
    with pytest.raises(MalformedEvent):
        parse(detail_type, {})


@pytest.mark.parametrize("detail_type", sorted(VALID))
def test_parse_does_not_mutate_detail(detail_type):
    detail = copy.deepcopy(VALID[detail_type])
    parse(detail_type, detail)
    assert detail == VALID[detail_type]


# --------------------------------------------------------------------------- property
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
KEYS = ["uuid", "hostname", "dc", "owner", "status", "ostype", "disks", "version", "vm_uuid",
        "name", "disk_id", "zfs_name", "username", "is_super_admin", "is_active", "dc_roles",
        "image_limit", "image_uuid", "size", "zfs_filesystem"]


@pytest.mark.parametrize("detail_type", sorted(VALID))
def test_any_detail_parses_or_is_malformed(detail_type):
    @settings(database=None, max_examples=300, deadline=None)
    @given(st.one_of(json_like, st.dictionaries(st.sampled_from(KEYS), json_like),
                     st.fixed_dictionaries({}, optional={
                         k: st.one_of(st.just(v), json_like)
                         for k, v in VALID[detail_type].items()})))
    def check(detail):
        try:
            kind, clean = parse(detail_type, detail)
        except MalformedEvent:
            return
        assert kind == detail_type
        assert isinstance(clean, dict)

    check()


@pytest.mark.parametrize("name", ["zones/web01-disk0", "zones/0c1e2d3f-disk1", "z",
                                  "pool/a b/c:d.e_f-g", "z" * 255])
def test_a_zfs_dataset_name_zfs_accepts_is_kept(name):
    disks = [with_(BAD_VM_DISK, zfs_filesystem=name)] * ev.MAX_VM_DISKS
    assert parse("VM State", with_(VM_STATE, disks=disks))[1]["disks"][0]["zfs_filesystem"] == name
