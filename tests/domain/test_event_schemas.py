"""The platform event schemas (chalicelib/schemas/events/, JSON Schema draft 2020-12) and the
parser the service runs (chalicelib/domain/platform_events.py) are one set of rules: every
schema is valid JSON Schema, its examples pass both, and on a corpus of valid and invalid
events and on generated ones the parser accepts exactly what the schema accepts."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from chalicelib.domain import platform_events as ev

SCHEMA_DIR = ev.SCHEMA_DIR
DEFINITIONS = "definitions.json"
FILES = sorted(p.name for p in SCHEMA_DIR.glob("*.json"))
SCHEMAS = {name: json.loads((SCHEMA_DIR / name).read_text()) for name in FILES}


def _python_pattern(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262: `$` ends the text. In Python's re it also matches
    before a final newline, so the reference validator would take "web01\\n" for a name."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if validator.is_type(instance, "string") and not re.search(_python_pattern(pattern),
                                                               instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


EventValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
REGISTRY = Registry().with_resources(
    (name, Resource.from_contents(schema)) for name, schema in SCHEMAS.items())
VALIDATORS = {detail_type: EventValidator(SCHEMAS[file], registry=REGISTRY)
              for detail_type, file in ev.SCHEMA_FILES.items()}


def schema_error(detail_type: str, detail: Any) -> ValidationError | None:
    return best_match(VALIDATORS[detail_type].iter_errors(detail))


def parser_error(detail_type: str, detail: Any) -> ev.MalformedEvent | None:
    try:
        ev.parse(detail_type, copy.deepcopy(detail))
    except ev.MalformedEvent as exc:
        return exc
    return None


def assert_agree(detail_type: str, detail: Any) -> None:
    by_schema, by_parser = schema_error(detail_type, detail), parser_error(detail_type, detail)
    assert (by_schema is None) == (by_parser is None), (
        f"{detail_type} {detail!r}: schema says "
        f"{'valid' if by_schema is None else by_schema.json_path + ': ' + by_schema.message}, "
        f"parser says {by_parser or 'valid'}")


def patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["pattern"]] if isinstance(node.get("pattern"), str) else []) + [
            p for value in node.values() for p in patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in patterns(value)]
    return []


# --------------------------------------------------------------------------- the files
def test_one_schema_file_per_detail_type_and_the_shared_definitions():
    assert set(ev.SCHEMA_FILES) == set(ev.PARSERS)
    assert set(FILES) == set(ev.SCHEMA_FILES.values()) | {DEFINITIONS}
    for detail_type, file in ev.SCHEMA_FILES.items():
        assert SCHEMAS[file]["title"] == detail_type


def test_schemas_ship_in_the_lambda_bundle():
    """chalice packages chalicelib/ whole: the contract travels with the code it describes."""
    root = Path(__file__).resolve().parents[2]
    assert SCHEMA_DIR.is_relative_to(root / "chalicelib")


@pytest.mark.parametrize("file", FILES)
def test_every_schema_file_is_valid_json_schema_2020_12(file):
    schema = SCHEMAS[file]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert all(p.startswith("^") and p.endswith("$") and p.count("$") == 1
               for p in patterns(schema)), "anchored ECMA-262 patterns only"


@pytest.mark.parametrize("detail_type", sorted(ev.SCHEMA_FILES))
def test_every_field_is_documented(detail_type):
    schema = SCHEMAS[ev.SCHEMA_FILES[detail_type]]
    assert schema["description"] and schema["type"] == "object"
    for key, prop in schema["properties"].items():
        ref = prop.get("$ref", "")
        target = SCHEMAS[DEFINITIONS]["$defs"][ref.rsplit("/", 1)[-1]] if ref else {}
        assert prop.get("description") or target.get("description"), key
    assert set(schema["required"]) <= set(schema["properties"])


@pytest.mark.parametrize("detail_type", sorted(ev.SCHEMA_FILES))
def test_the_schemas_examples_are_valid_events(detail_type):
    examples = SCHEMAS[ev.SCHEMA_FILES[detail_type]]["examples"]
    assert examples
    for example in examples:
        assert schema_error(detail_type, example) is None
        assert ev.parse(detail_type, example)[0] == detail_type


def test_the_reference_validator_needs_ecma_patterns():
    """Why EventValidator: the plain Python validator lets `$` match before a final newline."""
    name = {"$ref": "definitions.json#/$defs/name"}
    plain = Draft202012Validator(name, registry=REGISTRY)
    assert plain.is_valid("web01\n")
    assert not EventValidator(name, registry=REGISTRY).is_valid("web01\n")
    assert parser_error("DC State", {"name": "web01\n", "version": 1}) is not None


# --------------------------------------------------------------------------- the corpus
VM = "0c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
IMG = "3a4f1b62-8c1e-4f5a-9d2b-0c6e7f8a9b10"
EXAMPLE = {t: SCHEMAS[f]["examples"][0] for t, f in ev.SCHEMA_FILES.items()}


def changed(detail_type: str, **changes: Any) -> dict[str, Any]:
    detail = copy.deepcopy(EXAMPLE[detail_type])
    for key, value in changes.items():
        if value is REMOVE:
            detail.pop(key, None)
        else:
            detail[key] = value
    return detail


REMOVE = object()
DISK = {"image_uuid": IMG, "size": 1, "zfs_filesystem": "zones/x"}

VALID_CORPUS = [
    ("VM State", changed("VM State")),
    ("VM State", changed("VM State", uuid=VM.upper(), status="Running", owner=None, node=None)),
    ("VM State", changed("VM State", disks=REMOVE, owner=REMOVE, node=REMOVE, extra={"a": 1})),
    ("VM State", changed("VM State", disks=[], ostype=6, version=0)),
    ("VM State", changed("VM State", disks=[{"size": 0}], ostype=2.0, version=7.0)),
    ("VM State", changed("VM State", hostname="a" * 254, status="x", owner="")),
    ("VM State", changed("VM State", disks=[{"size": 5, "image_uuid": None,
                                             "zfs_filesystem": None}])),
    ("VM Deleted", changed("VM Deleted")),
    ("VM Deleted", changed("VM Deleted", uuid=VM.upper(), version=10**20)),
    ("Snapshot State", changed("Snapshot State")),
    ("Snapshot State", changed("Snapshot State", status="lost", zfs_name=None)),
    ("Snapshot State", changed("Snapshot State", status=1, zfs_name=REMOVE)),
    ("Snapshot State", changed("Snapshot State", status=4.0, disk_id=3)),
    ("Snapshot State", changed("Snapshot State", zfs_name="auto:2024-01-01 00.00_x")),
    ("Snapshot State", changed("Snapshot State", zfs_name="e" * 255)),
    ("Snapshot State", changed("Snapshot State", zfs_name="...")),
    ("Snapshot Deleted", changed("Snapshot Deleted")),
    ("User State", changed("User State")),
    ("User State", {"username": "bob", "version": 0}),
    ("User State", changed("User State", is_super_admin=True, is_active=False, dc_roles={})),
    ("User State", changed("User State", dc_roles={"main": [], "x y": ["bogus"]})),
    ("DC State", changed("DC State")),
    ("DC State", changed("DC State", image_limit=None)),
    ("DC State", changed("DC State", image_limit=REMOVE)),
    ("DC State", changed("DC State", image_limit=0)),
]

INVALID_CORPUS = [
    # (detail-type, detail, the field the error must name)
    ("VM State", changed("VM State", uuid=REMOVE), "uuid"),
    ("VM State", changed("VM State", uuid=None), "uuid"),
    ("VM State", changed("VM State", uuid="not-a-uuid"), "uuid"),
    ("VM State", changed("VM State", uuid=VM + "\n"), "uuid"),
    ("VM State", changed("VM State", uuid=VM + "0"), "uuid"),
    ("VM State", changed("VM State", hostname="-web"), "hostname"),
    ("VM State", changed("VM State", hostname="web01\n"), "hostname"),
    ("VM State", changed("VM State", hostname="a" * 255), "hostname"),
    ("VM State", changed("VM State", dc=""), "dc"),
    ("VM State", changed("VM State", status=REMOVE), "status"),
    ("VM State", changed("VM State", status=1), "status"),
    ("VM State", changed("VM State", status=""), "status"),
    ("VM State", changed("VM State", owner=5), "owner"),
    ("VM State", changed("VM State", node="bad node"), "node"),
    ("VM State", changed("VM State", ostype=0), "ostype"),
    ("VM State", changed("VM State", ostype=7), "ostype"),
    ("VM State", changed("VM State", ostype="1"), "ostype"),
    ("VM State", changed("VM State", ostype=True), "ostype"),
    ("VM State", changed("VM State", ostype=1.5), "ostype"),
    ("VM State", changed("VM State", version=-1), "version"),
    ("VM State", changed("VM State", version=REMOVE), "version"),
    ("VM State", changed("VM State", disks=None), "disks"),
    ("VM State", changed("VM State", disks={"0": DISK}), "disks"),
    ("VM State", changed("VM State", disks=[DISK, 5]), "disks"),
    ("VM State", changed("VM State", disks=[{"image_uuid": IMG}]), "size"),
    ("VM State", changed("VM State", disks=[dict(DISK, size=-1)]), "size"),
    ("VM State", changed("VM State", disks=[dict(DISK, image_uuid="")]), "image_uuid"),
    ("VM State", changed("VM State", disks=[dict(DISK, zfs_filesystem=1)]), "zfs_filesystem"),
    ("VM Deleted", changed("VM Deleted", version=False), "version"),
    ("VM Deleted", changed("VM Deleted", version="6"), "version"),
    ("Snapshot State", changed("Snapshot State", status="PENDING"), "status"),
    ("Snapshot State", changed("Snapshot State", status=0), "status"),
    ("Snapshot State", changed("Snapshot State", status=5), "status"),
    ("Snapshot State", changed("Snapshot State", status=True), "status"),
    ("Snapshot State", changed("Snapshot State", status="1"), "status"),
    ("Snapshot State", changed("Snapshot State", status=None), "status"),
    ("Snapshot State", changed("Snapshot State", disk_id=0), "disk_id"),
    ("Snapshot State", changed("Snapshot State", zfs_name=5), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name="zones/x-disk0@es-7"), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name="es@7"), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name="a/b"), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name=""), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name="."), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name=".."), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name="es-7%"), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name="es-7\n"), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", zfs_name="e" * 256), "zfs_name"),
    ("Snapshot State", changed("Snapshot State", name="a/b"), "name"),
    ("Snapshot Deleted", changed("Snapshot Deleted", vm_uuid=REMOVE), "vm_uuid"),
    ("Snapshot Deleted", changed("Snapshot Deleted", disk_id=1.5), "disk_id"),
    ("User State", changed("User State", username="bad name"), "username"),
    ("User State", changed("User State", is_super_admin=1), "is_super_admin"),
    ("User State", changed("User State", is_super_admin=None), "is_super_admin"),
    ("User State", changed("User State", is_active="yes"), "is_active"),
    ("User State", changed("User State", dc_roles=["admin"]), "dc_roles"),
    ("User State", changed("User State", dc_roles=None), "dc_roles"),
    ("User State", changed("User State", dc_roles={"main": "admin"}), "dc_roles"),
    ("User State", changed("User State", dc_roles={"main": [1]}), "dc_roles"),
    ("DC State", changed("DC State", image_limit=-1), "image_limit"),
    ("DC State", changed("DC State", image_limit="5"), "image_limit"),
    ("DC State", changed("DC State", image_limit=True), "image_limit"),
    ("DC State", changed("DC State", name=REMOVE), "name"),
]


@pytest.mark.parametrize("detail_type, detail", VALID_CORPUS,
                         ids=[f"{t}-{i}" for i, (t, _) in enumerate(VALID_CORPUS)])
def test_valid_events_pass_schema_and_parser(detail_type, detail):
    assert schema_error(detail_type, detail) is None
    assert parser_error(detail_type, detail) is None


@pytest.mark.parametrize("detail_type, detail, field", INVALID_CORPUS,
                         ids=[f"{t}-{f}-{i}" for i, (t, _, f) in enumerate(INVALID_CORPUS)])
def test_invalid_events_fail_both_naming_the_field(detail_type, detail, field):
    by_schema = schema_error(detail_type, detail)
    assert by_schema is not None
    assert field in by_schema.json_path + " " + by_schema.message
    by_parser = parser_error(detail_type, detail)
    assert by_parser is not None and field in by_parser.field


@pytest.mark.parametrize("detail_type", sorted(ev.SCHEMA_FILES))
@pytest.mark.parametrize("detail", [None, [], "x", 5, True, {}])
def test_non_events_fail_both(detail_type, detail):
    assert schema_error(detail_type, detail) is not None
    assert parser_error(detail_type, detail) is not None


# --------------------------------------------------------------------------- generated
NAMES = ["web01", "Web-01.example.com", "a", "a" * 254, "a" * 255, "-a", "a b", "a\n", "",
         "é", "a@b_c.d"]
UUIDS = [VM, VM.upper(), IMG, VM + "\n", VM[:-1], "", "not-a-uuid", VM.replace("-", "")]
VALUES = [
    None, True, False, -1, 0, 1, 2, 3, 4, 5, 6, 7, 10**20, 0.0, -0.0, 0.5, 1.0, 1.5, 2.0, 4.0,
    6.0, 7.0, float("inf"), float("nan"), "", "ok", "OK", "pending", "rollback", "lost",
    "Lost", "running", "Running", "1", [], {}, [1], ["admin"], {"main": ["admin"]},
    {"main": "admin"}, {"main": [1]}, {"main": None}, *NAMES, *UUIDS,
    *([dict(DISK, **{key: value})] for key in DISK
      for value in [None, -1, 0, 1.0, 1.5, "1", True, "x", IMG.upper(), *UUIDS]),
    [{"size": 0}], [{}], [DISK, None], [dict(DISK, extra=1)],
]
TRICKY = st.sampled_from(VALUES)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10)
INTEGERS = (st.sampled_from([-1, 0, 1, 2, 3, 4, 5, 6, 7, -0.0, 1.0, 6.0, 7.0, 0.5])
            | st.integers() | st.floats())
UUID = st.sampled_from(UUIDS) | st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
NAME = st.sampled_from(NAMES) | st.from_regex(r"\A[A-Za-z0-9.@_ -]{1,12}\n?\Z")


def _any(good: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(good, good, TRICKY, JSON)


DISK_STRATEGY = _any(st.fixed_dictionaries({}, optional={
    "image_uuid": _any(UUID | st.none()), "size": _any(INTEGERS),
    "zfs_filesystem": _any(st.text(max_size=8) | st.none())}))
FIELDS: dict[str, st.SearchStrategy] = {
    "uuid": UUID, "vm_uuid": UUID,
    "hostname": NAME, "dc": NAME, "node": NAME | st.none(), "name": NAME, "username": NAME,
    "owner": st.text(max_size=8) | st.none(),
    "status": st.sampled_from(["running", "Stopped", "ok", "pending", "rollback", "lost",
                               "Lost", 1, 2, 3, 4, 0, 5, 3.0]) | st.text(max_size=8),
    "ostype": INTEGERS, "version": INTEGERS, "disk_id": INTEGERS,
    "image_limit": INTEGERS | st.none(),
    "zfs_name": st.text(max_size=8) | st.none() | st.sampled_from([".", "..", "es-7", "a@b"])
    | st.from_regex(r"\A[A-Za-z0-9_.: @/#%-]{0,3}\n?\Z"),
    "is_super_admin": st.booleans(), "is_active": st.booleans(),
    "disks": st.lists(DISK_STRATEGY, max_size=3),
    "dc_roles": st.dictionaries(NAME | st.text(max_size=4), _any(st.lists(
        _any(st.sampled_from(["admin", "image_admin", "image_import_admin", "bogus"])),
        max_size=3)), max_size=3),
}


def events(detail_type: str) -> st.SearchStrategy:
    """Events near the valid ones: the example with one field dropped or replaced; each field
    kept, dropped, or replaced by a value that is good, tricky or any JSON (nested disks and
    roles too); plus any JSON at all."""
    keys = SCHEMAS[ev.SCHEMA_FILES[detail_type]]["properties"]
    one_change = st.sampled_from(sorted(keys)).flatmap(
        lambda key: st.one_of(st.just(REMOVE), _any(FIELDS[key])).map(
            lambda value: changed(detail_type, **{key: value})))
    return st.one_of(
        one_change, one_change,
        st.fixed_dictionaries({}, optional={key: _any(FIELDS[key]) for key in keys}),
        st.fixed_dictionaries({key: FIELDS[key] for key in keys}),
        JSON)


@pytest.mark.parametrize("detail_type", sorted(ev.SCHEMA_FILES))
def test_parser_and_schema_agree_field_by_field(detail_type):
    """Every field of the example dropped, or replaced by each value of a fixed set of
    boundary and wrong-type values: the same verdict from both."""
    for key in SCHEMAS[ev.SCHEMA_FILES[detail_type]]["properties"]:
        for value in [REMOVE, *VALUES]:
            assert_agree(detail_type, changed(detail_type, **{key: value}))


@pytest.mark.parametrize("detail_type", sorted(ev.SCHEMA_FILES))
def test_parser_and_schema_agree_on_generated_events(detail_type):
    @settings(database=None, max_examples=400, deadline=None)
    @given(events(detail_type))
    def check(detail):
        assert_agree(detail_type, detail)

    check()
