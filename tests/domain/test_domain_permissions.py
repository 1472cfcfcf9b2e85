"""Who may do what (SPEC §2): chalicelib/domain/permissions.py."""
from __future__ import annotations

import dataclasses

import pytest

from chalicelib.domain.permissions import ROLES, Principal, normalise_roles

ADMIN, IMAGE_ADMIN, IMPORT = "admin", "image_admin", "image_import_admin"


def user(roles_by_dc=None, super_admin=False, name="alice") -> Principal:
    return Principal.from_roles(name, super_admin, roles_by_dc or {})


def test_role_names():
    assert frozenset({"admin", "image_admin", "image_import_admin"}) == ROLES


ROLE_CASES = [
    # roles in DC main, image admin?, import admin?, dc admin?
    (set(), False, False, False),
    ({ADMIN}, False, False, True),
    ({IMAGE_ADMIN}, False, False, False),
    ({IMPORT}, False, False, False),
    ({IMAGE_ADMIN, IMPORT}, False, False, False),
    ({ADMIN, IMPORT}, False, False, True),
    ({ADMIN, IMAGE_ADMIN}, True, False, True),
    ({ADMIN, IMAGE_ADMIN, IMPORT}, True, True, True),
    ({ADMIN, IMAGE_ADMIN, "bogus"}, True, False, True),
]


@pytest.mark.parametrize("roles, image_admin, import_admin, dc_admin", ROLE_CASES)
def test_roles_in_one_dc(roles, image_admin, import_admin, dc_admin):
    p = user({"main": roles})
    assert p.is_image_admin("main") is image_admin
    assert p.is_image_import_admin("main") is import_admin
    assert p.is_dc_admin("main") is dc_admin
    # nothing leaks into another DC or to "no DC"
    assert p.is_image_admin("other") is False
    assert p.is_image_import_admin("other") is False
    assert p.is_dc_admin("other") is False
    assert p.is_image_admin(None) is False
    assert p.is_image_import_admin(None) is False
    assert p.image_admin_dcs == (frozenset({"main"}) if image_admin else frozenset())
    assert p.is_any_image_admin is image_admin
    assert p.can_manage_image("main") is image_admin
    assert p.can_see_image("main") is image_admin


def test_roles_do_not_combine_across_dcs():
    p = user({"a": [ADMIN], "b": [IMAGE_ADMIN, IMPORT]})
    assert p.is_image_admin("a") is False
    assert p.is_image_admin("b") is False
    assert p.is_image_import_admin("b") is False
    assert p.is_any_image_admin is False
    assert p.image_admin_dcs == frozenset()


def test_image_admin_in_several_dcs():
    p = user({"a": [ADMIN, IMAGE_ADMIN], "b": [ADMIN, IMAGE_ADMIN, IMPORT], "c": [ADMIN]})
    assert p.image_admin_dcs == frozenset({"a", "b"})
    assert p.is_any_image_admin is True
    assert p.is_image_import_admin("a") is False
    assert p.is_image_import_admin("b") is True
    assert [p.can_manage_image(dc) for dc in ("a", "b", "c", "d")] == [True, True, False, False]


def test_dc_unbound_images_are_super_admin_only():
    full = user({"main": [ADMIN, IMAGE_ADMIN, IMPORT]})
    assert full.can_manage_image(None) is False
    assert full.can_see_image(None) is False
    assert user(super_admin=True).can_manage_image(None) is True
    assert user(super_admin=True).can_see_image(None) is True


@pytest.mark.parametrize("dc", [None, "", "main", "elsewhere"])
def test_super_admin_passes_everything(dc):
    p = user(super_admin=True)
    assert p.is_image_admin(dc) is True
    assert p.is_image_import_admin(dc) is True
    assert p.is_dc_admin(dc) is True
    assert p.can_manage_image(dc) is True
    assert p.can_see_image(dc) is True
    assert p.is_any_image_admin is True


def test_super_admin_flag_coerced_to_bool():
    assert Principal.from_roles("u", 1, {}).is_super_admin is True
    assert Principal.from_roles("u", 0, {}).is_super_admin is False
    assert Principal.from_roles("u", None, {}).is_super_admin is False


def test_from_roles_normalises_containers():
    p = Principal.from_roles("bob", False, {"main": [ADMIN, IMAGE_ADMIN, ADMIN]})
    assert p.username == "bob"
    assert p.dc_roles == {"main": frozenset({ADMIN, IMAGE_ADMIN})}
    assert p.roles_in("main") == frozenset({ADMIN, IMAGE_ADMIN})
    assert p.roles_in("nope") == frozenset()
    assert p.roles_in(None) == frozenset()


def test_from_roles_none():
    p = Principal.from_roles("bob", False, None)
    assert p.dc_roles == {}
    assert p.is_any_image_admin is False


def test_principal_is_frozen():
    p = user()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.is_super_admin = True  # type: ignore[misc]


@pytest.mark.parametrize("raw, expected", [
    (None, {}),
    ({}, {}),
    ({"main": []}, {}),
    ({"main": ["bogus"]}, {}),
    ({"main": ["image_admin", "admin"]}, {"main": ["admin", "image_admin"]}),
    ({"main": ["image_import_admin", "image_admin", "admin", "x"]},
     {"main": ["admin", "image_admin", "image_import_admin"]}),
    ({"main": ["admin", "admin"]}, {"main": ["admin"]}),
    ({"a": ["admin"], "b": ["nope"], "c": ("image_admin",)},
     {"a": ["admin"], "c": ["image_admin"]}),
    ({1: ["admin"]}, {"1": ["admin"]}),
])
def test_normalise_roles(raw, expected):
    assert normalise_roles(raw) == expected


# --------------------------------------------------------------------------- tasks
def principal(name: str = "u", roles: dict | None = None, super_admin: bool = False):
    return Principal.from_roles(name, super_admin, roles or {})


IN_MAIN_ADMIN = {"main": ["admin"]}
IN_MAIN_IMAGE_ADMIN = {"main": ["admin", "image_admin"]}
IN_MAIN_IMPORT_ADMIN = {"main": ["admin", "image_admin", "image_import_admin"]}


@pytest.mark.parametrize("who, unbound, may_read", [
    (principal("root", super_admin=True), True, True),
    (principal("creator"), True, True),               # its creator always
    (principal("bob"), False, True),                  # the image's owner, of a bound image
    (principal("bob"), True, False),                  # ... not of an unbound one
    (principal("x", IN_MAIN_ADMIN), False, True),         # admins of the task's DC
    (principal("x", IN_MAIN_ADMIN), True, False),         # ... not for an unbound image
    (principal("x", {"dc2": ["admin"]}), False, False),
    (principal("x"), False, False),
])
def test_who_may_read_a_task(who, unbound, may_read):
    assert who.can_read_task(creator="creator", owner="bob", dc="main",
                             unbound=unbound) is may_read


@pytest.mark.parametrize("who, operation, unbound, may_cancel", [
    (principal("root", super_admin=True), "import", True, True),
    (principal("creator"), "delete", True, True),
    (principal("bob"), "import", False, False),       # the owner without roles: no
    (principal("x", IN_MAIN_ADMIN), "import", False, False),
    (principal("x", IN_MAIN_ADMIN), "update", False, False),
    (principal("x", IN_MAIN_IMAGE_ADMIN), "import", False, False),  # needs the import role
    (principal("x", IN_MAIN_IMAGE_ADMIN), "update", False, True),
    (principal("x", IN_MAIN_IMAGE_ADMIN), "delete", False, True),
    (principal("x", IN_MAIN_IMAGE_ADMIN), "snapshot", False, True),
    (principal("x", IN_MAIN_IMPORT_ADMIN), "import", False, True),
    (principal("x", IN_MAIN_IMPORT_ADMIN), "import", True, False),   # unbound: SuperAdmins
    (principal("x", {"dc2": IN_MAIN_IMPORT_ADMIN["main"]}), "import", False, False),
])
def test_who_may_cancel_a_task(who, operation, unbound, may_cancel):
    assert who.can_cancel_task(creator="creator", operation=operation, dc="main",
                               unbound=unbound) is may_cancel
