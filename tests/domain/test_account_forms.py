"""The admin routes' fields (domain/account_forms.py): `es` spellings, every error in the
body's order, nothing looked up for a DC that is only dropped."""
from __future__ import annotations

from chalicelib.domain import field_texts as texts
from chalicelib.domain.account_forms import dc_change, to_dc_roles, user_change
from chalicelib.domain.image_form import Errors

KNOWN = {"main", "dc2"}


def roles(raw):
    asked: list[str] = []

    def exists(dc: str) -> bool:
        asked.append(dc)
        return dc in KNOWN
    return (*to_dc_roles(raw, exists), asked)


def test_roles_as_lists_or_as_es_sends_them():
    assert roles({"main": "image_admin,admin", "dc2": "admin image_admin admin"}) == (
        {"main": ["admin", "image_admin"], "dc2": ["admin", "image_admin"]}, [],
        ["main", "dc2"])


def test_a_dc_given_no_role_is_dropped_without_a_look_up():
    assert roles({"main": ["admin"], "gone": [], "gone2": ""}) == (
        {"main": ["admin"]}, [], ["main"])


def test_every_error_in_order():
    found = roles({"main": ["boss"], "nowhere": ["admin"], "bad name!": ["admin"], "dc2": 7})
    assert found[:2] == (None, [texts.not_a_choice("boss"), texts.not_a_choice("nowhere"),
                                texts.not_a_choice("bad name!"), texts.INVALID])


def test_user_and_dc_fields():
    errors = Errors()
    assert user_change({"is_active": "F", "other": 1}, errors, KNOWN.__contains__) == {
        "is_active": False}
    assert dc_change({"image_limit": "12", "signed_only": "T"}, errors) == {
        "image_limit": 12, "signed_only": True}
    assert dc_change({"image_limit": None}, errors) == {"image_limit": None}
    assert not errors
    dc_change({"image_limit": "1.5", "signed_only": "yes"}, errors)
    assert errors == {"image_limit": [texts.WHOLE_NUMBER], "signed_only": [texts.INVALID]}
