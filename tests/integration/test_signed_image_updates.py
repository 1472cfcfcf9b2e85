"""`signed_by` across updates (SPEC §4.4, §4.14; README "Signed images"), through HTTP against
the local stack: the signer names the key that signed the manifest an image was imported with;
an update changes metadata only and keeps it, and nobody sets, changes or removes it through the
API — not with `tags` (strings, SPEC §3), not with a `signed_by` field. Checked where it shows:
the extended view, the stored manifest (`GET /images/<uuid>`) and the IMGAPI base's GetImage
(`/imgapi/images/<uuid>`, what compute nodes pull)."""
from __future__ import annotations

import pytest
import requests

from chalicelib.services.identity import dc_trust
from tests.integration.test_imgapi_source import TOKEN
from tests.integration.test_signed_images import import_signed, manifest_bytes, signed_by
from tests.integration.test_workflow_update_delete import stored_manifest
from tests.integration.workflow_support import wait_task
from tests.minisign_tool import KeyPair, new_key_pair, sign

UPDATES = [  # each kind of metadata an update may change (SPEC §4.4)
    {"desc": "new words"},
    {"alias": "renamed", "version": "2"},
    {"tags": ["web", "prod"]},
    {"access": 1},
]


@pytest.fixture
def trusted(clean, tmp_path) -> KeyPair:
    """`main` trusts a key made by `minisign -G` (as `imagectl dc trust-key` sets it)."""
    key = new_key_pair(tmp_path / "trusted")
    dc_trust.trust_key("main", key.public_text)
    return key


@pytest.fixture
def node(settings_override) -> None:
    settings_override(NODE_TOKEN=TOKEN)


def signers(stack, admin, name: str) -> tuple[str | None, str | None, str | None]:
    """The signer as the extended view, the stored manifest and the IMGAPI base show it."""
    view = admin.get(f"/image/{name}", params={"extended": "true"}).json()["result"]
    stored = admin.get(f"/images/{view['uuid']}")
    assert stored.status_code == 200, stored.text
    edge = requests.get(f"{stack.stack.imgapi_url}/images/{view['uuid']}",
                        auth=("node", TOKEN), timeout=10)
    assert edge.status_code == 200, edge.text
    return (view["signed_by"], stored.json()["tags"].get("signed_by"),
            edge.json()["tags"].get("signed_by"))


def store_signer(stack, admin, name: str) -> str | None:
    """The signer in the manifest object the image server wrote into the store."""
    uuid = admin.get(f"/image/{name}").json()["result"]["uuid"]
    return stored_manifest(stack, uuid)["tags"].get("signed_by")


def update(admin, name: str, body: dict, *, server: bool) -> None:
    """PUT /image/<name>, and with an image server its workflow to SUCCESS."""
    r = admin.put(f"/image/{name}", body)
    if not server:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 201, r.text
    result = wait_task(admin, r.json()["task_id"])
    assert result.status_code == 200, result.text


def import_on_server(admin, files, trusted_key, tmp_path, name: str, *, signed: bool) -> None:
    manifest = manifest_bytes(files, tmp_path)
    r = import_signed(admin, files, name, manifest,
                      sign(trusted_key, manifest) if signed else None)
    assert r.status_code == 201, r.text
    assert wait_task(admin, r.json()["task_id"]).status_code == 200


# --- 1. an update keeps the signer ---------------------------------------------------------------
def test_every_update_on_the_image_server_keeps_signed_by(server, node, admin, files, trusted,
                                                         tmp_path):
    import_on_server(admin, files, trusted, tmp_path, "signed", signed=True)
    everywhere = (trusted.key_id,) * 3
    assert signers(server, admin, "signed") == everywhere
    for body in UPDATES:
        update(admin, "signed", body, server=True)
        view = admin.get("/image/signed").json()["result"]
        assert all(view[field] == value for field, value in body.items()), (body, view)
        assert signers(server, admin, "signed") == everywhere, body
        assert store_signer(server, admin, "signed") == trusted.key_id, body


def test_an_update_that_fails_and_rolls_back_keeps_signed_by(clean, node, admin, files, trusted,
                                                             tmp_path):
    """Imported without an image server, the image has nothing in the store: the update's
    workflow fails (esimg's `Target image directory does not exist`, 7) and is undone."""
    manifest = manifest_bytes(files, tmp_path)
    r = import_signed(admin, files, "signed", manifest, sign(trusted, manifest))
    assert r.status_code == 200, r.text
    before = r.json()["result"]
    clean.use_image_server(True)
    r = admin.put("/image/signed", {"alias": "two", "version": "9", "desc": "changed",
                                    "tags": ["a"], "access": 1})
    assert r.status_code == 201, r.text
    result = wait_task(admin, r.json()["task_id"])
    assert result.status_code == 400 and result.json()["result"]["returncode"] == 7, result.text
    assert admin.get("/image/signed").json()["result"] == before  # every field restored
    assert signers(clean, admin, "signed") == (trusted.key_id,) * 3


# --- 2. tags and fields cannot forge or remove the signer ---------------------------------------
def forgeries(key_id: str) -> list[dict]:
    """Every way a PUT might try to claim, change or drop a signer."""
    return [
        {"tags": ["signed_by", f"signed_by:{key_id}"]},
        {"tags": f"signed_by:{key_id}, signed_by"},     # one string, taggit's comma syntax
        {"tags": f"signed_by {key_id}"},                # one string, blank-separated
        {"tags": []},                                   # no tags at all
        {"tags": ["signed_by"], "signed_by": key_id, "desc": "claims"},  # read-only: ignored
        {"signed_by": None, "desc": "drops"},
    ]


@pytest.mark.parametrize("on_server", [False, True], ids=["db-only", "image-server"])
def test_tags_cannot_forge_or_remove_the_signer_of_a_signed_image(clean, node, admin, files,
                                                                  trusted, tmp_path, on_server):
    clean.use_image_server(on_server)
    if on_server:
        clean.empty_store()
        import_on_server(admin, files, trusted, tmp_path, "signed", signed=True)
    else:
        manifest = manifest_bytes(files, tmp_path)
        assert import_signed(admin, files, "signed", manifest,
                             sign(trusted, manifest)).status_code == 200
    stranger = new_key_pair(tmp_path / "stranger")
    for body in forgeries(stranger.key_id):
        update(admin, "signed", body, server=on_server)
        assert signers(clean, admin, "signed") == (trusted.key_id,) * 3, body
        if on_server:
            assert store_signer(clean, admin, "signed") == trusted.key_id, body
    assert admin.get("/image/signed").json()["result"]["tags"] == ["signed_by"]  # a string


@pytest.mark.parametrize("on_server", [False, True], ids=["db-only", "image-server"])
def test_tags_cannot_make_an_unsigned_image_look_signed(clean, node, admin, files, trusted,
                                                        tmp_path, on_server):
    clean.use_image_server(on_server)
    if on_server:
        clean.empty_store()
        import_on_server(admin, files, trusted, tmp_path, "plain", signed=False)
    else:
        manifest = manifest_bytes(files, tmp_path)
        assert import_signed(admin, files, "plain", manifest, None).status_code == 200
    for body in forgeries(trusted.key_id):
        update(admin, "plain", body, server=on_server)
        assert signers(clean, admin, "plain") == (None, None, None), body
        if on_server:
            assert store_signer(clean, admin, "plain") is None, body


def test_tags_as_an_object_are_refused(clean, admin, files, trusted, tmp_path):
    """IMGAPI's `tags` is an object; the service's are strings (SPEC §3): 400, never a write."""
    manifest = manifest_bytes(files, tmp_path)
    assert import_signed(admin, files, "plain", manifest, None).status_code == 200
    r = admin.put("/image/plain", {"tags": {"signed_by": trusted.key_id}})
    assert r.status_code == 400, r.text
    assert r.json()["result"] == {"tags": ["Invalid value."]}
    assert signed_by(admin, "plain") is None
