"""SHA-256 for every stored file (SPEC §4.14, issue 20): computed in the same pass as SHA-1 on
an import, an upload and a snapshot ingest; served in `files[0].sha256` of
`GET /images/<uuid>` (checked here against the bytes of `GET /images/<uuid>/file`, both
through HTTP) and in the `extended` view; a source manifest's `sha256` verified like `sha1`.
Real ASL executions on the emulator; the node agent exports through the API."""
from __future__ import annotations

import hashlib
import random
from urllib.parse import urlsplit

import pytest
import requests

from chalicelib.persistence.models import Datacenter, Image, Task
from tests.integration.test_workflow_snapshot import (  # noqa: F401 (fixtures used by name)
    MiB,
    create,
    node,
    start_node,
)
from tests.integration.upload_support import complete, manifest_for, open_upload, send_parts
from tests.integration.workflow_support import RangeFile, step_runs, wait_task
from tests.support import Api, wait_for

TOKEN = "node-secret-for-digests"
CONTENT = random.Random(20).randbytes(3 * MiB + 5)
PART = 5 * MiB                                  # TRANSFER_PART_BYTES of the test stack
BIG = random.Random(21).randbytes(32 * MiB)     # 7 parts
SLOW = 8 * MiB                                  # bytes/s: 32 MiB take about 4 s


@pytest.fixture
def admin(server, settings_override) -> Api:
    settings_override(NODE_TOKEN=TOKEN)  # what compute nodes present to GET /images/...
    return Api(server.api_url, server.admin_key)


def served(server, uuid: str) -> tuple[dict, bytes]:
    """What a compute node gets: the manifest and the file's bytes, through the IMGAPI base."""
    base, auth = server.stack.imgapi_url, ("node", TOKEN)
    manifest = requests.get(f"{base}/images/{uuid}", auth=auth, timeout=10)
    assert manifest.status_code == 200, manifest.text
    file = requests.get(f"{base}/images/{uuid}/file", auth=auth, timeout=30)
    assert file.status_code == 200, file.text
    return manifest.json(), file.content


def assert_digests_served(server, admin, name: str) -> dict:
    image = admin.get(f"/image/{name}", params={"extended": "true"}).json()["result"]
    manifest, data = served(server, image["uuid"])
    file = manifest["files"][0]
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    assert file["sha1"] == hashlib.sha1(data).hexdigest() and file["size"] == len(data)
    assert (image["sha1"], image["sha256"]) == (file["sha1"], file["sha256"])
    return file


def import_from(admin, files, content: bytes, name: str, source: RangeFile | None = None,
                **file_changes: str) -> str:
    manifest = files.manifest(content)
    manifest["files"][0].update(file_changes)
    url = files.publish(manifest, content=None if source else content)
    if source is not None:
        files.server.expect_request(urlsplit(url).path + "/file").respond_with_handler(
            source.handler)
    r = admin.post(f"/image/{name}", {"manifest_url": url, "dc": "main"})
    assert r.status_code == 201, r.text
    return str(r.json()["task_id"])


def failed_with_mismatch(admin, task_id: str, expected: str, actual: str) -> None:
    r = wait_task(admin, task_id)
    assert r.status_code == 400, r.text
    result = r.json()["result"]
    assert result["returncode"] == 8
    assert result["message"] == f"ERROR: Image file checksum mismatch ({expected} != {actual})"


def nothing_left(server, name: str) -> None:
    assert Image.count(name) == 0
    assert Datacenter.get("main").image_count == 0
    wait_for(lambda: server.store_keys() == [] and server.open_uploads() == [], timeout=10,
             message=lambda _: f"left: {server.store_keys()} {server.open_uploads()}")


# --------------------------------------------------------------------------- every way in
def test_an_imported_image_serves_the_sha256_of_its_file(server, admin, files):
    task_id = import_from(admin, files, CONTENT, "imported")
    assert wait_task(admin, task_id).status_code == 200
    assert assert_digests_served(server, admin, "imported")["sha256"] == hashlib.sha256(
        CONTENT).hexdigest()


def test_an_uploaded_image_serves_the_sha256_of_its_file(server, admin):
    task_id = open_upload(admin, "uploaded", manifest_for(CONTENT))  # no sha256 announced
    send_parts(admin, task_id, CONTENT)
    assert complete(admin, task_id).status_code == 201
    assert wait_task(admin, task_id).status_code == 200
    assert assert_digests_served(server, admin, "uploaded")["sha256"] == hashlib.sha256(
        CONTENT).hexdigest()


def test_an_image_from_a_snapshot_serves_the_sha256_of_its_file(server, admin, node):  # noqa: F811
    node.shape(size=7 * MiB)  # gzip'd by the agent: a file the service never saw before
    task_id = create(admin, "from-snap")
    assert wait_task(admin, task_id).status_code == 200
    assert_digests_served(server, admin, "from-snap")


def test_a_manifest_sha256_that_matches_is_accepted_in_any_case(server, admin, files):
    task_id = import_from(admin, files, CONTENT, "announced",
                          sha256=hashlib.sha256(CONTENT).hexdigest().upper())
    assert wait_task(admin, task_id).status_code == 200
    assert assert_digests_served(server, admin, "announced")["sha256"] == hashlib.sha256(
        CONTENT).hexdigest()


# --------------------------------------------------------------------------- mismatches
def test_an_import_whose_sha256_is_wrong_fails_and_leaves_nothing(server, admin, files):
    claimed = "ab" * 32  # the SHA-1 and size are right
    task_id = import_from(admin, files, CONTENT, "wrong256", sha256=claimed)
    failed_with_mismatch(admin, task_id, claimed, hashlib.sha256(CONTENT).hexdigest())
    nothing_left(server, "wrong256")


def test_an_upload_whose_sha256_is_wrong_fails_and_leaves_nothing(server, admin):
    claimed = "cd" * 32
    task_id = open_upload(admin, "up-wrong256", manifest_for(CONTENT, sha256=claimed))
    send_parts(admin, task_id, CONTENT)
    assert complete(admin, task_id).status_code == 201
    failed_with_mismatch(admin, task_id, claimed, hashlib.sha256(CONTENT).hexdigest())
    nothing_left(server, "up-wrong256")


def test_a_malformed_sha256_is_an_invalid_manifest(server, admin, files):
    manifest = files.manifest(CONTENT)
    manifest["files"][0]["sha256"] = "not-a-digest"
    r = admin.post("/image/bad256", {"manifest_url": files.publish(manifest), "dc": "main"})
    assert r.status_code == 400, r.text
    assert r.json()["result"] == {"manifest_url": ["Invalid image manifest."]}


# --------------------------------------------------------------------------- dedupe
def test_a_reused_identical_file_carries_the_sha256_of_the_first(server, admin, files):
    first = import_from(admin, files, CONTENT, "first")
    assert wait_task(admin, first).status_code == 200
    second = import_from(admin, files, CONTENT, "second", source=RangeFile(CONTENT))
    final = wait_task(admin, second)
    assert "reused an identical file" in final.json()["result"]["message"]
    assert assert_digests_served(server, admin, "second")["sha256"] == hashlib.sha256(
        CONTENT).hexdigest()


def test_an_identical_file_whose_sha256_is_unknown_is_downloaded_again(server, admin, files):
    """An image of the version before SHA-256 (its record has none) is no source to copy
    from: the new image would not know its SHA-256. The file is downloaded and hashed."""
    first = import_from(admin, files, CONTENT, "old")
    assert wait_task(admin, first).status_code == 200
    old = Image.get("old")
    without = {**old.manifest_active, "files": [
        {k: v for k, v in old.manifest_active["files"][0].items() if k != "sha256"}]}
    old.update([Image.manifest.set(without), Image.manifest_active.set(without)])
    source = RangeFile(CONTENT)
    second = import_from(admin, files, CONTENT, "new", source=source)
    final = wait_task(admin, second)
    assert final.status_code == 200, final.text
    assert "reused" not in final.json()["result"]["message"] and source.starts == [0]
    assert_digests_served(server, admin, "new")


def test_an_identical_file_with_another_announced_sha256_is_not_reused(server, admin, files):
    first = import_from(admin, files, CONTENT, "first")
    assert wait_task(admin, first).status_code == 200
    claimed = "ef" * 32
    source = RangeFile(CONTENT)
    second = import_from(admin, files, CONTENT, "claims", source=source, sha256=claimed)
    failed_with_mismatch(admin, second, claimed, hashlib.sha256(CONTENT).hexdigest())
    assert source.starts == [0]  # downloaded and hashed, not copied
    assert Image.count("claims") == 0


# --------------------------------------------------------------------------- upgrades
def test_a_checkpoint_of_the_previous_version_starts_the_file_over(server, admin, files,
                                                                    settings_override, hold):
    """A transfer checkpointed by the version that hashed SHA-1 only (its checkpoint has no
    `sha256`) cannot know the SHA-256 of the bytes stored so far: the next run aborts that
    upload and reads the file again from the first byte, hashing both."""
    settings_override(TRANSFER_STEP_SECONDS=1)
    held = hold("import_file", passing=1)  # the first run goes; the second waits at its start
    source = RangeFile(BIG, rate=SLOW)
    task_id = import_from(admin, files, BIG, "upgraded", source=source)
    held.wait_reached(task_id)
    task = Task.get(task_id)
    saved = task.transfer
    assert saved["checkpoint"]["parts"] >= 1 and saved["checkpoint"]["sha256"]
    del saved["checkpoint"]["sha256"]  # as the previous version saved it
    task.update([Task.transfer.set(saved)])
    held.release(task_id)
    final = wait_task(admin, task_id, timeout=120)
    assert final.status_code == 200, final.text
    assert source.starts[0] == 0 and source.starts[1] == 0  # started over
    assert step_runs(task_id, "ImportFile") >= 2
    assert assert_digests_served(server, admin, "upgraded")["sha256"] == hashlib.sha256(
        BIG).hexdigest()
    assert server.open_uploads() == []
