"""`imagectl dc trust-key|untrust-key|require-signed` and `dc show` (SPEC §4.14), with keys
made by the real `minisign -G`, and the trust service's SuperAdmin rule."""
from __future__ import annotations

import pytest

from chalicelib.domain.errors import PermissionDenied
from chalicelib.domain.permissions import Principal
from chalicelib.services.identity import dc_trust
from tests.integration.racing import race
from tests.integration.test_imagectl import ctl, ok, refused  # noqa: F401 (fixture)
from tests.minisign_tool import new_key_pair


def test_trust_untrust_and_require_signed(ctl, tmp_path):  # noqa: F811
    first, second = new_key_pair(tmp_path / "a"), new_key_pair(tmp_path / "b")
    run = ok(ctl("dc", "trust-key", "main", first.public_text))
    assert f"main trusts key {first.key_id}" in run.out
    # just the base64 line works too, and trusting a key again changes nothing
    ok(ctl("dc", "trust-key", "main", first.public_line))
    ok(ctl("dc", "trust-key", "main", second.public_line))
    shown = ok(ctl("dc", "show", "main", "--json")).data
    assert shown["trusted_keys"] == [
        {"key_id": first.key_id, "key": first.public_line,
         "comment": f"minisign public key {first.printed_id}"},
        {"key_id": second.key_id, "key": second.public_line, "comment": ""}]
    assert shown["signed_only"] is False
    text = ok(ctl("dc", "show", "main")).out
    assert f"{first.key_id} (minisign public key {first.printed_id}); {second.key_id}" in text

    assert ok(ctl("dc", "require-signed", "main", "on", "--json")).data["signed_only"] is True
    assert "signed only:   yes" in ok(ctl("dc", "show", "main")).out
    ok(ctl("dc", "untrust-key", "main", first.key_id.lower()))
    assert [k["key_id"] for k in ok(ctl("dc", "show", "main", "--json")).data[
        "trusted_keys"]] == [second.key_id]
    assert ok(ctl("dc", "require-signed", "main", "off", "--json")).data["signed_only"] is False
    assert ok(ctl("dc", "list", "--json")).data[0]["trusted_keys"][0]["key_id"] == second.key_id


def test_trust_bad_input(ctl, tmp_path):  # noqa: F811
    key = new_key_pair(tmp_path)
    refused(ctl("dc", "trust-key", "main", "not a key"), 2, "not a minisign public key")
    refused(ctl("dc", "trust-key", "main", key.public_line[:-4]), 2, "not a minisign public key")
    refused(ctl("dc", "trust-key", "nowhere", key.public_text), 1, "does not exist")
    refused(ctl("dc", "untrust-key", "main", "XYZ"), 2, "not a key id")
    refused(ctl("dc", "untrust-key", "main", key.key_id), 1, "does not trust")
    refused(ctl("dc", "require-signed", "main", "maybe"), 2, "expected on or off")
    refused(ctl("dc", "require-signed", "nowhere", "on"), 1, "does not exist")
    assert ok(ctl("dc", "show", "main", "--json")).data["trusted_keys"] == []


def test_only_super_admins_change_trust(clean, tmp_path):
    key = new_key_pair(tmp_path)
    dc_admin = Principal.from_roles("dcadmin", False, {"main": ["admin", "image_admin",
                                                                "image_import_admin"]})
    for change in (lambda: dc_trust.trust_key("main", key.public_text, by=dc_admin),
                   lambda: dc_trust.untrust_key("main", key.key_id, by=dc_admin),
                   lambda: dc_trust.set_signed_only("main", True, by=dc_admin)):
        with pytest.raises(PermissionDenied):
            change()
    assert dc_trust.read_trust("main") == {"name": "main", "trusted_keys": [],
                                           "signed_only": False}
    boss = Principal.from_roles("boss", True, {})
    assert dc_trust.trust_key("main", key.public_text, by=boss)["trusted_keys"][0][
        "key_id"] == key.key_id


def test_keys_trusted_at_the_same_moment_are_all_kept(clean, tmp_path):
    """Each change of the list is conditioned on the version it read: racers that lose read
    again, so no key trusted concurrently is lost (several rounds, barrier-released)."""
    keys = [new_key_pair(tmp_path / f"k{i}") for i in range(4)]
    for round_number in range(5):
        for key in keys:
            try:
                dc_trust.untrust_key("main", key.key_id)
            except dc_trust.AccountError:
                pass
        race(*[lambda key=key: dc_trust.trust_key("main", key.public_text) for key in keys])
        trusted = [k["key_id"] for k in dc_trust.read_trust("main")["trusted_keys"]]
        assert sorted(trusted) == sorted(key.key_id for key in keys), round_number


def test_untrust_by_the_id_as_minisign_prints_it(ctl):  # noqa: F811
    """minisign prints an id as `%llX`: one whose top byte is zero loses its leading zeros
    (about 1 key in 16); the service shows 16 digits and takes either spelling."""
    import base64
    import os
    line = base64.b64encode(b"Ed" + bytes([1, 2, 3, 4, 5, 6, 7, 0]) + os.urandom(32)).decode()
    ok(ctl("dc", "trust-key", "main", line))
    assert ok(ctl("dc", "show", "main", "--json")).data["trusted_keys"][0]["key_id"] == \
        "0007060504030201"
    ok(ctl("dc", "untrust-key", "main", "7060504030201"))
    assert ok(ctl("dc", "show", "main", "--json")).data["trusted_keys"] == []
    refused(ctl("dc", "untrust-key", "main", "1" * 17), 2, "not a key id")
