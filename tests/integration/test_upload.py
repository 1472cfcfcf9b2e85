"""Upload: an image from the caller's own file (SPEC §4.13). The client opens the upload with
its manifest, PUTs parts straight into the store with presigned URLs, completes; the workflow
verifies size and SHA-1 while moving the file into place. Every failure leaves no record, no
object and no open multipart upload behind."""
from __future__ import annotations

import boto3
import pytest

from chalicelib.persistence.models import Image
from tests.integration.upload_support import (
    PART,
    as_text,
    complete,
    manifest_for,
    open_upload,
    part_urls,
    put_part,
    send_parts,
)
from tests.integration.workflow_support import wait_task
from tests.support import Api, file_sha1, image_admin_roles

CONTENT = bytes(range(256)) * (PART // 256) + b"the last, short part"


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


def nothing_left(server, name: str) -> None:
    assert Image.count(name) == 0
    assert server.store_keys() == []
    assert server.open_uploads() == []


def failed_with(api, task_id: str, returncode: int, message: str) -> None:
    r = wait_task(api, task_id)
    assert r.status_code == 400, r.text
    assert r.json()["result"]["returncode"] == returncode
    assert r.json()["result"]["message"] == message


def test_an_upload_is_verified_and_becomes_an_ok_image(server, admin):
    manifest = manifest_for(CONTENT)
    task_id = open_upload(admin, "up1", manifest)
    assert admin.get("/image/up1").json()["result"]["status"] == 2
    send_parts(admin, task_id, CONTENT)
    listed = admin.get(f"/task/{task_id}/upload/").json()
    assert listed == {"parts": [{"number": 1, "size": PART},
                                {"number": 2, "size": len(CONTENT) - PART}],
                      "bytes": len(CONTENT), "completed": False}
    r = complete(admin, task_id)
    assert r.status_code == 201 and r.json() == {"task_id": task_id, "status": "PENDING",
                                                 "result": None}
    r = wait_task(admin, task_id)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["message"].startswith(
        f"Successfully uploaded image up1 (transferred {len(CONTENT)} bytes in ")
    image = admin.get("/image/up1").json()["result"]
    assert (image["status"], image["uuid"]) == (1, manifest["uuid"])
    uuid = manifest["uuid"]
    assert server.store_keys() == [f"images/{uuid}/file", f"images/{uuid}/manifest"]
    assert server.open_uploads() == []
    s3 = boto3.client("s3")
    stored = s3.get_object(Bucket=server.bucket, Key=f"images/{uuid}/file")["Body"].read()
    assert file_sha1(stored) == file_sha1(CONTENT)
    r = admin.post(f"/task/{task_id}/upload/", {"parts": [1]})
    assert (r.status_code, r.json()) == (410, {"detail": "Task has already finished"})


def test_the_manifest_may_be_sent_as_its_exact_json_text(server, admin):
    content = b"a small image"
    manifest = manifest_for(content)
    task_id = open_upload(admin, "up-text", as_text(manifest))
    send_parts(admin, task_id, content)
    assert complete(admin, task_id).status_code == 201
    assert wait_task(admin, task_id).status_code == 200
    assert admin.get("/image/up-text").json()["result"]["uuid"] == manifest["uuid"]


def test_a_completion_repeated_is_fine(server, admin):
    content = b"twice"
    task_id = open_upload(admin, "up-twice", manifest_for(content))
    send_parts(admin, task_id, content)
    assert complete(admin, task_id).status_code == 201
    second = complete(admin, task_id)
    assert second.status_code in (201, 410), second.text  # 410 once the task has ended
    assert wait_task(admin, task_id).status_code == 200


def test_wrong_size_fails_the_task_and_leaves_nothing(server, admin):
    manifest = manifest_for(CONTENT)
    manifest["files"][0]["size"] = len(CONTENT) + 1
    task_id = open_upload(admin, "up-size", manifest)
    send_parts(admin, task_id, CONTENT)
    assert complete(admin, task_id).status_code == 201
    failed_with(admin, task_id, 8, f"ERROR: Image file size mismatch ({len(CONTENT) + 1} != "
                                   f"{len(CONTENT)})")
    nothing_left(server, "up-size")


def test_wrong_sha1_fails_the_task_and_leaves_nothing(server, admin):
    claimed = "0" * 40
    task_id = open_upload(admin, "up-sha1", manifest_for(CONTENT, sha1=claimed))
    send_parts(admin, task_id, CONTENT)
    assert complete(admin, task_id).status_code == 201
    failed_with(admin, task_id, 8, f"ERROR: Image file checksum mismatch ({claimed} != "
                                   f"{file_sha1(CONTENT)})")
    nothing_left(server, "up-sha1")


def test_a_missing_part_is_named_and_the_upload_stays_open(server, admin):
    content = CONTENT + CONTENT  # three parts
    task_id = open_upload(admin, "up-gap", manifest_for(content))
    send_parts(admin, task_id, content, [1, 3])
    r = complete(admin, task_id)
    assert r.status_code == 400
    assert r.json()["result"] == {"parts": ["Part 2 is missing."]}
    assert server.open_uploads() == [f"uploads/{task_id}"]
    assert admin.put(f"/task/{task_id}/cancel").status_code == 410
    nothing_left(server, "up-gap")


def test_a_small_part_before_the_last_is_named(server, admin):
    content = b"x" * 10 + b"y" * 10
    task_id = open_upload(admin, "up-small", manifest_for(content))
    urls = part_urls(admin, task_id, [1, 2])
    assert put_part(urls["1"], content[:10]).status_code == 200
    assert put_part(urls["2"], content[10:]).status_code == 200
    r = complete(admin, task_id)
    assert r.status_code == 400
    assert r.json()["result"] == {"parts": [
        "Part 1 has 10 bytes; every part but the last must have at least 5242880 bytes "
        "(5 MiB)."]}
    assert admin.put(f"/task/{task_id}/cancel").status_code == 410
    nothing_left(server, "up-small")


def test_a_part_url_is_refused_for_another_part(server, admin):
    task_id = open_upload(admin, "up-reuse", manifest_for(CONTENT))
    url = part_urls(admin, task_id, [1])["1"]
    assert "partNumber=1&" in url or url.endswith("partNumber=1")
    forged = url.replace("partNumber=1", "partNumber=2")
    r = put_part(forged, CONTENT[PART:])
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    assert admin.get(f"/task/{task_id}/upload/").json()["parts"] == []
    assert admin.put(f"/task/{task_id}/cancel").status_code == 410
    nothing_left(server, "up-reuse")


def test_only_the_creator_or_a_super_admin_drives_the_upload(server, admin):
    creator = server.user("creator", roles=image_admin_roles("main"))
    colleague = server.user("colleague", roles=image_admin_roles("main"))
    content = b"mine"
    task_id = open_upload(creator, "up-owner", manifest_for(content))
    send_parts(creator, task_id, content)
    denied = {"detail": "You do not have permission to perform this action."}
    for request in (lambda: colleague.post(f"/task/{task_id}/upload/complete/"),
                    lambda: colleague.post(f"/task/{task_id}/upload/", {"parts": [1]}),
                    lambda: colleague.get(f"/task/{task_id}/upload/")):
        r = request()
        assert (r.status_code, r.json()) == (403, denied)
    assert colleague.get(f"/task/{task_id}").status_code == 200  # reading it is fine
    assert creator.put(f"/task/{task_id}/cancel").status_code == 410
    nothing_left(server, "up-owner")


def test_a_super_admin_may_complete_another_users_upload(server, admin):
    creator = server.user("creator2", roles=image_admin_roles("main"))
    content = b"theirs"
    task_id = open_upload(creator, "up-sa", manifest_for(content))
    send_parts(creator, task_id, content)
    assert complete(admin, task_id).status_code == 201
    assert wait_task(creator, task_id).status_code == 200


def test_an_upload_past_its_deadline_fails_and_is_aborted(server, admin, settings_override):
    settings_override(UPLOAD_TIMEOUT_SECONDS=2)
    task_id = open_upload(admin, "up-late", manifest_for(CONTENT))
    send_parts(admin, task_id, CONTENT, [1])
    failed_with(admin, task_id, 4, "ERROR: The operation did not finish in time")
    r = admin.post(f"/task/{task_id}/upload/complete/")
    assert (r.status_code, r.json()) == (410, {"detail": "Task has already finished"})
    nothing_left(server, "up-late")


def test_cancel_aborts_the_upload_and_rolls_back(server, admin):
    task_id = open_upload(admin, "up-cancel", manifest_for(CONTENT))
    send_parts(admin, task_id, CONTENT, [1])
    r = admin.put(f"/task/{task_id}/cancel")
    assert r.status_code == 410 and r.json()["status"] == "REVOKED"
    nothing_left(server, "up-cancel")


@pytest.mark.parametrize("parts", [None, [], [0], [10001], ["1"], [True], "1",
                                   list(range(1, 102))])
def test_bad_part_lists_are_400_naming_parts(server, admin, parts):
    task_id = open_upload(admin, "up-bad", manifest_for(b"x"))
    r = admin.post(f"/task/{task_id}/upload/", {} if parts is None else {"parts": parts})
    assert r.status_code == 400
    expected = ("This field is required." if parts is None else
                "Enter a list of 1 to 100 part numbers, each a whole number from 1 to 10000.")
    assert r.json()["result"] == {"parts": [expected]}
    admin.put(f"/task/{task_id}/cancel")


@pytest.mark.parametrize("manifest,error", [
    (None, "This field is required."),
    ("{not json", "Could not parse image manifest."),
    (7, "Could not parse image manifest."),
    ({"uuid": "x"}, "Invalid image manifest."),
])
def test_a_bad_manifest_is_400_naming_manifest(server, admin, manifest, error):
    body = {"upload": True, "dc": "main"}
    if manifest is not None:
        body["manifest"] = manifest
    r = admin.post("/image/up-bad", body)
    assert r.status_code == 400, r.text
    assert r.json()["result"] == {"manifest": [error]}
    nothing_left(server, "up-bad")


def test_an_upload_needs_an_image_server(clean):
    admin = Api(clean.api_url, clean.admin_key)
    r = admin.post("/image/up-none", {"manifest": manifest_for(b"x"), "upload": True,
                                      "dc": "main"})
    assert (r.status_code, r.json()) == (428, {"detail": "Image server is not available"})
    assert Image.count("up-none") == 0


def test_the_cleanup_aborts_an_upload_left_open_and_keeps_a_running_one(server, admin,
                                                                        settings_override):
    """An upload whose task is gone (its client died and the ending could not abort it, a
    crash between the two) is an orphan the cleanup aborts; one a client is still sending to
    is kept."""
    from datetime import UTC, datetime, timedelta

    from chalicelib.services.maintenance import cleanup
    running = open_upload(admin, "up-running", manifest_for(CONTENT))
    send_parts(admin, running, CONTENT, [1])
    orphan = boto3.client("s3").create_multipart_upload(
        Bucket=server.bucket, Key="uploads/eu-00000000-0000-4000-8000-000000000000")
    settings_override(CLEANUP_GRACE_SECONDS=0)
    report = cleanup.run(now=datetime.now(UTC) + timedelta(seconds=5))
    assert report.uploads_aborted == [orphan["Key"]]
    assert server.open_uploads() == [f"uploads/{running}"]
    assert [p["number"] for p in admin.get(f"/task/{running}/upload/").json()["parts"]] == [1]
