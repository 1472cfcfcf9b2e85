"""The SHA-256 backfill (`./imagectl image digest --all | NAME`, SPEC §4.14): images stored
before files got a SHA-256 (their records and stored manifests made here as that version made
them) gain the right one, streamed from the store; a run killed half way continues from its
checkpoint; a second run reads nothing. Against the session's local stack, served through
HTTP (`GET /images/<uuid>` and its `/file`) as compute nodes see it."""
from __future__ import annotations

import hashlib
import json
import random
import threading

import boto3
import pytest
import requests

from chalicelib.persistence.models import Guard, Image
from chalicelib.services.maintenance import digest_backfill
from devstack import request_holds
from tests.integration.test_imagectl import ctl  # noqa: F401 (the CLI in this process)
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api

MiB = 1 << 20
TOKEN = "node-secret-for-the-backfill"
SMALL = random.Random(30).randbytes(MiB + 3)
LARGE = random.Random(31).randbytes(6 * MiB + 11)


@pytest.fixture
def admin(server, settings_override) -> Api:
    settings_override(NODE_TOKEN=TOKEN)
    return Api(server.api_url, server.admin_key)


def old_image(server, admin, files, name: str, content: bytes) -> Image:
    """An image as the version before SHA-256 left it: no `sha256` in its record's manifests
    nor in its stored manifest."""
    task_id, _ = start_import(admin, files, name, content)
    assert wait_task(admin, task_id).status_code == 200
    image = Image.get(name)
    old = {**image.manifest_active, "files": [
        {k: v for k, v in image.manifest_active["files"][0].items() if k != "sha256"}]}
    image.update([Image.manifest.set(old), Image.manifest_active.set(old)])
    boto3.client("s3").put_object(Bucket=server.bucket, Key=f"images/{image.uuid}/manifest",
                                  Body=json.dumps(old).encode())
    assert "sha256" not in served(server, image.uuid)[0]["files"][0]
    return Image.get(name)


def served(server, uuid: str) -> tuple[dict, bytes]:
    base, auth = server.stack.imgapi_url, ("node", TOKEN)
    manifest = requests.get(f"{base}/images/{uuid}", auth=auth, timeout=10)
    file = requests.get(f"{base}/images/{uuid}/file", auth=auth, timeout=30)
    assert manifest.status_code == file.status_code == 200, manifest.text
    return manifest.json(), file.content


def assert_filled(server, admin, image: Image) -> None:
    manifest, data = served(server, image.uuid)
    assert manifest["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    extended = admin.get(f"/image/{image.name}", params={"extended": "1"}).json()["result"]
    assert extended["sha256"] == manifest["files"][0]["sha256"]
    stored = json.loads(boto3.client("s3").get_object(
        Bucket=server.bucket, Key=f"images/{image.uuid}/manifest")["Body"].read())
    assert stored["files"][0]["sha256"] == manifest["files"][0]["sha256"]


def test_images_without_sha256_get_the_right_one_and_a_second_run_reads_nothing(
        server, admin, files, ctl):  # noqa: F811
    images = [old_image(server, admin, files, name, content)
              for name, content in (("old-small", SMALL), ("old-large", LARGE))]
    run = ctl("image", "digest", "--all")
    assert run.code == 0 and run.err == "", run
    assert "old-large: sha256 " + hashlib.sha256(LARGE).hexdigest() in run.out
    assert run.out.rstrip().splitlines()[-1] == (
        f"filled=2 known=0 skipped=0 repaired=0 bytes_read={len(SMALL) + len(LARGE)}")
    for image in images:
        assert_filled(server, admin, image)
    again = ctl("image", "digest", "--all", "--json")
    assert again.code == 0 and (again.data["filled"], again.data["known"],
                                again.data["bytes_read"]) == (0, 2, 0)
    assert Guard.count(digest_backfill.CHECKPOINT + images[1].uuid) == 0


def test_one_image_by_name_and_an_unknown_name(server, admin, files, ctl):  # noqa: F811
    image = old_image(server, admin, files, "by-name", SMALL)
    other = old_image(server, admin, files, "not-named", SMALL + b"x")
    run = ctl("image", "digest", "by-name", "--json")
    assert run.code == 0 and run.data["filled"] == 1, run
    assert_filled(server, admin, image)
    assert "sha256" not in Image.get(other.name).manifest_active["files"][0]
    missing = ctl("image", "digest", "nothing-here")
    assert (missing.code, missing.out, missing.err) == (
        2, "", "imagectl: image nothing-here not found\n")
    assert ctl("image", "digest").code == 2  # a name or --all


class Killed(BaseException):
    """The process dies (as a kill would end it: no handler of the app's runs)."""


def test_a_run_killed_half_way_continues_from_its_checkpoint(server, admin, files,
                                                             monkeypatch):
    image = old_image(server, admin, files, "killed", LARGE)
    monkeypatch.setattr(digest_backfill, "CHUNK", MiB)
    checkpoints: list[str] = []

    def die_after_two_checkpoints(line: str) -> None:
        if line.startswith(("killed: ", "changed: ")) and line.endswith(" bytes"):
            checkpoints.append(line)
            if len(checkpoints) == 2:
                raise Killed()

    with pytest.raises(Killed):
        digest_backfill.backfill(["killed"], progress=die_after_two_checkpoints,
                                 save_every=2 * MiB)
    saved = json.loads(Guard.get(digest_backfill.CHECKPOINT + image.uuid).image_name)
    assert 4 * MiB <= saved["offset"] < len(LARGE)
    assert "sha256" not in Image.get("killed").manifest_active["files"][0]

    lines: list[str] = []
    report = digest_backfill.backfill(["killed"], progress=lines.append, save_every=2 * MiB)
    assert (report.filled, report.resumed) == (1, 1)
    assert report.bytes_read == len(LARGE) - saved["offset"]   # only the rest was read
    assert f"killed: resuming at byte {saved['offset']}" in lines
    assert_filled(server, admin, image)
    assert Guard.count(digest_backfill.CHECKPOINT + image.uuid) == 0


def test_a_checkpoint_of_an_object_that_changed_starts_over(server, admin, files,
                                                            monkeypatch):
    image = old_image(server, admin, files, "changed", LARGE)
    monkeypatch.setattr(digest_backfill, "CHUNK", MiB)

    def die_at_first_checkpoint(line: str) -> None:
        if line.startswith(("killed: ", "changed: ")) and line.endswith(" bytes"):
            raise Killed()

    with pytest.raises(Killed):
        digest_backfill.backfill(["changed"], progress=die_at_first_checkpoint,
                                 save_every=2 * MiB)
    # the same bytes written again in one request: another object, another ETag (no "-2")
    boto3.client("s3").put_object(Bucket=server.bucket, Key=f"images/{image.uuid}/file",
                                  Body=LARGE)
    report = digest_backfill.backfill(["changed"], save_every=2 * MiB)
    assert (report.filled, report.resumed, report.bytes_read) == (1, 0, len(LARGE))
    assert_filled(server, admin, image)


def test_a_stored_file_that_is_not_the_recorded_one_is_reported_not_recorded(
        server, admin, files, ctl):  # noqa: F811
    image = old_image(server, admin, files, "corrupt", SMALL)
    boto3.client("s3").put_object(Bucket=server.bucket, Key=f"images/{image.uuid}/file",
                                  Body=SMALL[:-1] + b"!")
    run = ctl("image", "digest", "--all")
    assert run.code == 1
    assert run.err.startswith("imagectl: 1 stored file(s) do not match their record: corrupt: "
                              "the stored file (")
    assert "sha256" not in Image.get("corrupt").manifest_active["files"][0]


def test_the_operator_policy_allows_what_the_backfill_does():
    """`imagectl --aws image digest` runs as the operator (`imagectl iam-policy`)."""
    from cli.operator_policy import operator_policy
    from devstack.iam.evaluate import Effect, Request, decide
    statements = operator_policy("imageapi")["Statement"]
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/imageapi-{}"
    obj = "arn:aws:s3:::imageapi-store-123456789012-eu-west-1/images/some-uuid/{}"
    needed = [("dynamodb:Scan", table.format("images")),
              ("dynamodb:GetItem", table.format("images")),
              ("dynamodb:UpdateItem", table.format("images")),
              ("dynamodb:GetItem", table.format("guards")),
              ("dynamodb:PutItem", table.format("guards")),
              ("dynamodb:DeleteItem", table.format("guards")),
              ("s3:GetObject", obj.format("file")),
              ("s3:GetObject", obj.format("manifest")),
              ("s3:PutObject", obj.format("manifest"))]
    for action, resource in needed:
        assert decide(statements, Request(action, resource, {})) is Effect.ALLOW, action


def stored_manifest(server, uuid: str) -> dict:
    return json.loads(boto3.client("s3").get_object(
        Bucket=server.bucket, Key=f"images/{uuid}/manifest")["Body"].read())


def test_an_update_meeting_the_backfill_keeps_the_store_and_the_record_one(
        server, admin, files):
    """The backfill's manifest write is held at the emulator while an update of the same
    image runs to its end; once it goes on, the stored manifest is still the record's (before,
    the late write put the pre-update manifest back over the update's)."""
    image = old_image(server, admin, files, "raced", SMALL)
    hold = request_holds.hold("PUT", rf"/images/{image.uuid}/manifest(\?|$)")
    reports: list[digest_backfill.Report] = []
    run = threading.Thread(target=lambda: reports.append(digest_backfill.backfill(["raced"])))
    run.start()
    try:
        assert hold.reached.wait(30), "the backfill never wrote the manifest"
        r = admin.put("/image/raced", {"desc": "updated meanwhile"})
        assert r.status_code == 201, r.text
        assert wait_task(admin, r.json()["task_id"]).status_code == 200
    finally:
        hold.release()
        run.join(60)
        request_holds.clear()
    after = Image.get("raced", consistent_read=True)
    assert stored_manifest(server, image.uuid) == after.manifest_active
    assert reports and reports[0].filled == 1, reports
    assert after.manifest_active["description"] == "updated meanwhile"
    assert after.manifest_active["files"][0]["sha256"] == hashlib.sha256(SMALL).hexdigest()


def test_a_record_ahead_of_its_stored_manifest_is_caught_up_by_the_next_run(
        server, admin, files, ctl):  # noqa: F811
    """What a run that died between its record write and its store write leaves."""
    image = old_image(server, admin, files, "ahead", SMALL)
    active = {**image.manifest_active, "files": [
        {**image.manifest_active["files"][0], "sha256": hashlib.sha256(SMALL).hexdigest()}]}
    image.update([Image.manifest.set(active), Image.manifest_active.set(active)])
    run = ctl("image", "digest", "--all", "--json")
    assert run.code == 0, run
    assert (run.data["filled"], run.data["known"], run.data["repaired"]) == (0, 1, ["ahead"])
    assert_filled(server, admin, image)
    assert stored_manifest(server, image.uuid) == Image.get("ahead").manifest_active
    again = ctl("image", "digest", "--all", "--json")
    assert again.data["repaired"] == []
