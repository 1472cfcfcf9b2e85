"""Signed manifests (SPEC §4.14) through HTTP against the local stack: manifests signed by
Debian's `minisign` (keys from `minisign -G -W`), imported with `signature_url` and uploaded
with `signature`, checked with the keys the DC trusts (set as `imagectl dc trust-key` does,
through the same service); each refusal with its exact answer."""
from __future__ import annotations

import base64
import json
import uuid as uuidlib
from pathlib import Path

import pytest

from chalicelib.persistence.models import Image
from chalicelib.services.identity import dc_trust
from tests.imgapi_client.runner import run
from tests.integration.test_image_import import failure
from tests.integration.test_imgapi_source import TOKEN, source_url
from tests.integration.upload_support import complete, manifest_for, open_upload, send_parts
from tests.integration.workflow_support import wait_task
from tests.minisign_tool import KeyPair, new_key_pair, sign
from tests.support import image_admin_roles

NOT_VALID = "Image manifest signature is not valid."
SIGNED_ONLY = "This datacenter accepts signed images only."
CONTENT = b"signed image bytes " * 64


@pytest.fixture
def key(tmp_path) -> KeyPair:
    return new_key_pair(tmp_path / "trusted")


@pytest.fixture
def trusted(clean, key) -> KeyPair:
    """`main` trusts `key`."""
    dc_trust.trust_key("main", key.public_text)
    return key


def manifest_bytes(files, tmp_path: Path, content: bytes = CONTENT, **changes) -> Path:
    """A manifest as a publisher writes it to disk before signing it (not JSON-normalised:
    the signature is over these exact bytes)."""
    path = tmp_path / f"manifest-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(files.manifest(content, **changes), indent=3) + "\n")
    return path


def serve(files, data: str | bytes, path: str) -> str:
    files.server.expect_request(path).respond_with_data(data)
    return files.server.url_for(path)


def import_signed(api, files, name: str, manifest: Path, signature: str | bytes | None, *,
                  served: bytes | None = None, dc: str = "main"):
    """POST /image/<name> with the manifest served as `served` (default: its file's bytes)
    and, unless None, `signature` served at `signature_url`."""
    path = f"/m/{uuidlib.uuid4()}"  # each request its own paths: a test may post again
    url = files.publish(served if served is not None else manifest.read_bytes(), path,
                        content=CONTENT)
    body = {"manifest_url": url, "dc": dc}
    if signature is not None:
        body["signature_url"] = serve(files, signature, f"{path}.minisig")
    return api.post(f"/image/{name}", body)


def signed_by(api, name: str):
    r = api.get(f"/image/{name}", params={"extended": "true"})
    assert r.status_code == 200, r.text
    return r.json()["result"]["signed_by"]


# --- accepted ------------------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["prehashed-ED", "legacy-Ed"])
def test_a_signed_import_is_accepted_and_shows_its_signer(admin, files, trusted, tmp_path,
                                                          legacy):
    manifest = manifest_bytes(files, tmp_path)
    signature = sign(trusted, manifest, trusted_comment="release 1.0", legacy=legacy)
    r = import_signed(admin, files, "signed", manifest, signature)
    assert r.status_code == 200, r.text
    assert signed_by(admin, "signed") == trusted.key_id
    assert Image.get("signed").manifest["tags"]["signed_by"] == trusted.key_id
    log = admin.get("/task/log").json()["result"]
    assert any(f"signed_by='{trusted.key_id}'" in entry["detail"] for entry in log
               if entry["object_name"] == "signed"), log


def test_an_unsigned_import_shows_no_signer_and_a_claimed_one_is_not_believed(admin, files,
                                                                              trusted, tmp_path):
    claimed = manifest_bytes(files, tmp_path, signed_by=trusted.key_id,
                             tags={"signed_by": trusted.key_id, "resize": True})
    assert import_signed(admin, files, "claims", claimed, None).status_code == 200
    assert signed_by(admin, "claims") is None
    stored = Image.get("claims").manifest
    assert "signed_by" not in stored and "signed_by" not in stored["tags"]


def test_signed_import_on_the_image_server_keeps_signed_by_in_the_stored_manifest(
        server, admin, files, trusted, tmp_path, settings_override):
    settings_override(NODE_TOKEN=TOKEN)
    manifest = manifest_bytes(files, tmp_path)
    r = import_signed(admin, files, "stored", manifest, sign(trusted, manifest))
    assert r.status_code == 201, r.text
    assert wait_task(admin, r.json()["task_id"]).status_code == 200
    assert signed_by(admin, "stored") == trusted.key_id
    uuid = Image.get("stored").uuid
    node = admin.get(f"/images/{uuid}")  # the node source's view of the stored manifest
    assert node.status_code == 200, node.text
    assert node.json()["tags"]["signed_by"] == trusted.key_id
    got = run(source_url(server), "get", uuid)  # imgadm's client and imgmanifest's validator
    assert got["invalid"] is None, got
    assert got["manifest"]["tags"]["signed_by"] == trusted.key_id
    log = admin.get("/task/log").json()["result"]
    assert any(f"signed_by='{trusted.key_id}'" in entry["detail"] for entry in log
               if entry["object_name"] == "stored"), log


# --- refused -------------------------------------------------------------------------------------
def test_a_tampered_manifest(admin, files, trusted, tmp_path):
    manifest = manifest_bytes(files, tmp_path)
    signature = sign(trusted, manifest)
    tampered = manifest.read_bytes().replace(b'"CentOS 7 server image"', b'"CentOS 7 server imagf"')
    assert tampered != manifest.read_bytes()
    r = import_signed(admin, files, "img", manifest, signature, served=tampered)
    assert failure(r) == {"signature_url": [NOT_VALID]}
    # the same bytes re-serialised (same JSON, other spacing) are not the signed bytes either
    compact = json.dumps(json.loads(manifest.read_bytes())).encode()
    assert failure(import_signed(admin, files, "img", manifest, signature, served=compact)) == {
        "signature_url": [NOT_VALID]}
    assert Image.count() == 0


def test_an_untrusted_key(admin, files, trusted, tmp_path):
    stranger = new_key_pair(tmp_path / "stranger")
    manifest = manifest_bytes(files, tmp_path)
    r = import_signed(admin, files, "img", manifest, sign(stranger, manifest))
    assert failure(r) == {"signature_url": [NOT_VALID]}


def test_a_wrong_key_under_a_trusted_key_id(admin, files, trusted, tmp_path):
    """Signed by another key, its key id changed to the trusted key's."""
    stranger = new_key_pair(tmp_path / "stranger")
    manifest = manifest_bytes(files, tmp_path)
    lines = sign(stranger, manifest).splitlines()
    raw = base64.b64decode(lines[1])
    trusted_id = base64.b64decode(trusted.public_line)[2:10]
    lines[1] = base64.b64encode(raw[:2] + trusted_id + raw[10:]).decode()
    r = import_signed(admin, files, "img", manifest, "\n".join(lines) + "\n")
    assert failure(r) == {"signature_url": [NOT_VALID]}


def test_a_truncated_signature(admin, files, trusted, tmp_path):
    manifest = manifest_bytes(files, tmp_path)
    signature = sign(trusted, manifest)
    for cut in (signature[:-30], signature[: len(signature) // 2], "\n".join(
            signature.splitlines()[:3])):
        r = import_signed(admin, files, "img", manifest, cut)
        assert failure(r) == {"signature_url": [NOT_VALID]}


def test_a_signature_of_another_file(admin, files, trusted, tmp_path):
    manifest = manifest_bytes(files, tmp_path)
    other = manifest_bytes(files, tmp_path, content=b"other bytes")
    r = import_signed(admin, files, "img", manifest, sign(trusted, other))
    assert failure(r) == {"signature_url": [NOT_VALID]}


def test_a_tampered_trusted_comment(admin, files, trusted, tmp_path):
    manifest = manifest_bytes(files, tmp_path)
    signature = sign(trusted, manifest, trusted_comment="release 1.0")
    forged = signature.replace("trusted comment: release 1.0", "trusted comment: release 9.9")
    assert forged != signature
    r = import_signed(admin, files, "img", manifest, forged)
    assert failure(r) == {"signature_url": [NOT_VALID]}


def test_a_signature_url_over_the_cap(admin, files, trusted, tmp_path):
    manifest = manifest_bytes(files, tmp_path)
    padded = sign(trusted, manifest) + "\n" * (8 * 1024)
    r = import_signed(admin, files, "img", manifest, padded)
    assert failure(r) == {"signature_url": [
        "Image manifest signature URL is unreachable (Response is too large)."]}


def test_a_signature_url_to_a_refused_address(admin, files, trusted, tmp_path):
    manifest = manifest_bytes(files, tmp_path)
    url = files.publish(manifest.read_bytes(), "/m/img", content=CONTENT)
    r = admin.post("/image/img", {"manifest_url": url, "dc": "main",
                                  "signature_url": "http://169.254.169.254/latest/sig"})
    assert failure(r) == {"signature_url": [
        "Image manifest signature URL is unreachable (Access to this address is not "
        "allowed)."]}
    r = admin.post("/image/img", {"manifest_url": url, "dc": "main", "signature_url": "ftp://x"})
    assert failure(r) == {"signature_url": ["Enter a valid URL."]}


# --- a DC that accepts signed images only ---------------------------------------------------------
def test_a_signed_only_dc_refuses_an_unsigned_import(clean, admin, files, trusted, tmp_path):
    dc_trust.set_signed_only("main", True)
    manifest = manifest_bytes(files, tmp_path)
    assert failure(import_signed(admin, files, "img", manifest, None)) == {
        "signature_url": [SIGNED_ONLY]}
    # an empty signature_url is no signature
    url = files.publish(manifest.read_bytes(), "/m/img2", content=CONTENT)
    assert failure(admin.post("/image/img2", {"manifest_url": url, "dc": "main",
                                              "signature_url": ""})) == {
        "signature_url": [SIGNED_ONLY]}
    assert import_signed(admin, files, "img", manifest,
                         sign(trusted, manifest)).status_code == 200
    # another DC is not signed-only
    clean.dc("dc2")
    other = manifest_bytes(files, tmp_path)
    assert import_signed(admin, files, "plain", other, None, dc="dc2").status_code == 200


def test_a_signed_only_dc_refuses_an_unsigned_upload_and_takes_a_signed_one(
        server, admin, trusted):
    dc_trust.set_signed_only("main", True)
    manifest = manifest_for(CONTENT)
    r = admin.post("/image/up", {"manifest": manifest, "upload": True, "dc": "main"})
    assert failure(r) == {"signature_url": [SIGNED_ONLY]}
    text = json.dumps(manifest, indent=2)
    folder = Path(trusted.public_path).parent
    path = folder / "upload-manifest.json"
    path.write_text(text)
    signature = sign(trusted, path)
    # the manifest as an object: its exact bytes are unknown, the signature cannot hold
    r = admin.post("/image/up", {"manifest": manifest, "upload": True, "dc": "main",
                                 "signature": signature})
    assert failure(r) == {"signature": [NOT_VALID]}
    r = admin.post("/image/up", {"manifest": text + " ", "upload": True, "dc": "main",
                                 "signature": signature})
    assert failure(r) == {"signature": [NOT_VALID]}
    task_id = open_upload(admin, "up", text, signature=signature)
    send_parts(admin, task_id, CONTENT)
    assert complete(admin, task_id).status_code == 201
    assert wait_task(admin, task_id).status_code == 200
    assert signed_by(admin, "up") == trusted.key_id


def test_images_from_vm_snapshots_are_not_refused(admin, trusted):
    """The snapshot path passes validation in a signed-only DC (and, with no image server,
    answers 428 as it always does after validation)."""
    from chalicelib.services.platform import read_models
    dc_trust.set_signed_only("main", True)
    vm = "5c7e8a7e-0f5e-4a3c-8d3e-1a2b3c4d5e6f"
    read_models.apply("VM State", {
        "uuid": vm, "hostname": "db01", "dc": "main", "owner": "admin", "status": "running",
        "ostype": 4, "version": 1,
        "disks": [{"image_uuid": None, "size": 1024, "zfs_filesystem": "zones/db01-disk0"}]})
    read_models.apply("Snapshot State", {"vm_uuid": vm, "name": "daily", "disk_id": 1,
                                         "zfs_name": "es-7", "status": "ok", "version": 1})
    r = admin.post(f"/vm/{vm}/snapshot/daily/image/from-snap", {})
    assert r.status_code == 428 and r.json() == {"detail": "Image server is not available"}


def test_a_dc_admin_cannot_sign_for_the_dc(clean, files, trusted, tmp_path):
    """A DC admin's import may not name its own key or claim a signer: trust stays the
    SuperAdmin's (the service refuses a non-SuperAdmin: tests/integration/test_dc_trust_cli)."""
    dc_trust.set_signed_only("main", True)
    dc_admin = clean.user("dcadmin", roles=image_admin_roles("main"))
    own = new_key_pair(tmp_path / "own")
    manifest = manifest_bytes(files, tmp_path, signed_by=own.key_id)
    r = import_signed(dc_admin, files, "img", manifest, sign(own, manifest))
    assert failure(r) == {"signature_url": [NOT_VALID]}
    r = import_signed(dc_admin, files, "img", manifest, None)
    assert failure(r) == {"signature_url": [SIGNED_ONLY]}
    assert import_signed(dc_admin, files, "img", manifest,
                         sign(trusted, manifest)).status_code == 200
    assert signed_by(dc_admin, "img") == trusted.key_id
