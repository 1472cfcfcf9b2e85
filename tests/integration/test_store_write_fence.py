"""A rollback never lands before a step's store write it raced with (services.tasks.store_writes).

The emulator holds the step's manifest PUT (devstack/request_holds.py) where a slow or throttled
S3 would keep it, and the task is canceled meanwhile. Without the fence the rollback restored
(or removed) the manifest first and the step's late write then won: the store showed an update
the record had undone, or a manifest of an image that no longer existed (the soak under AWS
faults found both). With it the rollback waits for the write and then puts the store back.
The outcome is read through the API, the tables and the bucket.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.persistence.models import Image, Task
from chalicelib.services.tasks import store_writes
from devstack import request_holds
from tests.integration.workflow_support import (
    Gate,
    execution_status,
    start_import,
    wait_task,
)
from tests.support import Api, wait_for

CONTENT = b"fenced image file" * 4096
# Long enough for an unfenced rollback (a few requests) to do its work before the held write
# goes on; a fenced one does nothing meanwhile, however long this is. Never an assertion.
ROLLBACK_CHANCE_SECONDS = 2.0


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


@pytest.fixture(autouse=True)
def no_holds_left():
    yield
    request_holds.clear()


def stored_objects(server, uuid: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=server.bucket, Prefix=f"images/{uuid}/")
    return {item["Key"]: s3.get_object(Bucket=server.bucket, Key=item["Key"])["Body"].read()
            for item in listed.get("Contents", [])}


def nothing_left(server, uuid: str) -> None:
    """A canceled transfer's Lambda may still be finishing after its execution was stopped (a
    stopped execution does not stop a running invocation): it stores what it downloaded,
    finds its task ended and removes it again. So the store is empty soon, if not at once."""
    def objects():
        try:
            return stored_objects(server, uuid)
        except boto3.client("s3").exceptions.NoSuchKey:  # listed, then removed
            return {"(being removed)": b""}
    wait_for(objects, 30, 0.2, until=lambda found: found == {},
             message=lambda found: f"left in the store: {sorted(found)}")


def cancel_while_held(admin: Api, task_id: str, hold: request_holds.Hold) -> int:
    """Cancel the task whose manifest write is held, give an unfenced rollback its chance to
    finish first, then let the write go; the cancel's status code."""
    assert hold.reached.wait(45), "the step never wrote the manifest"
    answers: list[int] = []
    cancel = threading.Thread(target=lambda: answers.append(
        admin.put(f"/task/{task_id}/cancel").status_code))
    cancel.start()
    try:
        hold.later_one_done.wait(ROLLBACK_CHANCE_SECONDS)  # an unfenced rollback's own PUT
        cancel.join(0.5)
    finally:
        hold.release()
    cancel.join(60)
    assert answers, "the cancel never answered"
    return answers[0]


def test_a_cancel_racing_an_update_s_manifest_write_leaves_the_restored_manifest(
        server, admin, files):
    task_id, _ = start_import(admin, files, "fenced", CONTENT, alias="fenced", version="1")
    assert wait_task(admin, task_id).status_code == 200
    before = Image.get("fenced")
    path = rf"/images/{before.uuid}/manifest(\?|$)"
    hold = request_holds.hold("PUT", path)

    r = admin.put("/image/fenced", {"desc": "never applied", "version": "2"})
    assert r.status_code == 201, r.text
    update = r.json()["task_id"]
    assert cancel_while_held(admin, update, hold) == 410
    assert wait_task(admin, update).json()["status"] == "REVOKED"

    after = Image.get("fenced", consistent_read=True)
    stored = json.loads(stored_objects(server, after.uuid)[f"images/{after.uuid}/manifest"])
    assert stored == after.manifest_active == before.manifest_active
    assert (after.status, after.desc, after.version) == (1, before.desc, "1")
    shown = admin.get("/image/fenced").json()["result"]
    assert (shown["desc"], shown["version"]) == (before.desc, "1")
    task = Task.get(update, consistent_read=True)
    assert task.store_writer is None, "the step kept its lease on the store"


def test_a_cancel_racing_an_import_s_manifest_write_leaves_no_object(server, admin, files):
    manifest = files.manifest(CONTENT)
    hold = request_holds.hold("PUT", rf"/images/{manifest['uuid']}/manifest(\?|$)")
    r = admin.post("/image/fenced-import", {
        "manifest_url": files.publish(manifest, content=CONTENT), "dc": "main"})
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    assert cancel_while_held(admin, task_id, hold) == 410
    assert wait_task(admin, task_id).json()["status"] == "REVOKED"

    assert stored_objects(server, manifest["uuid"]) == {}
    assert admin.get("/image/fenced-import").status_code == 404
    assert Image.count("fenced-import", consistent_read=True) == 0


@contextmanager
def trickling_import(admin: Api, files, name: str, holder: str, until: timedelta
                     ) -> Iterator[tuple[str, str]]:
    """An import whose file trickles until the block ends, its task given a store-write lease
    by `holder` ending `until` from now (a step that died holding it, or one still writing);
    yields (task id, image uuid). Afterwards the task must end REVOKED leaving nothing."""
    gate = Gate(CONTENT, deadline=120)
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    files.server.expect_request("/" + url.split("/", 3)[3] + "/file").respond_with_handler(
        gate.handler)
    r = admin.post(f"/image/{name}", {"manifest_url": url, "dc": "main"})
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    try:
        assert gate.started.wait(30)
        Task(task_id).update(actions=[Task.store_writer.set(holder),
                                      Task.store_write_until.set(datetime.now(UTC) + until)])
        yield task_id, manifest["uuid"]
    finally:
        gate.release.set()


def assert_revoked_leaving_nothing(server, admin: Api, task_id: str, uuid: str) -> None:
    assert wait_task(admin, task_id).json()["status"] == "REVOKED"
    assert execution_status(task_id, timeout=60) == "ABORTED"
    nothing_left(server, uuid)


def test_a_lease_its_holder_let_lapse_does_not_stop_a_rollback(server, admin, files):
    """A step that died holding the lease (its Lambda killed) leaves it to lapse; a rollback
    after that goes on at once."""
    with trickling_import(admin, files, "lapsed", "a-dead-step", timedelta(seconds=-1)) as (
            task_id, uuid):
        assert admin.put(f"/task/{task_id}/cancel").status_code == 410
    assert_revoked_leaving_nothing(server, admin, task_id, uuid)


def test_a_lease_held_past_the_wait_makes_a_cancel_ask_for_a_retry(server, admin, files,
                                                                    monkeypatch):
    """A holder that keeps the lease (alive, or dead and not yet lapsed): the cancel answers 503
    with Retry-After and the task stays claimed; once the lease is gone a retry ends it."""
    monkeypatch.setattr(store_writes, "WAIT_SECONDS", 0.5)
    with trickling_import(admin, files, "held", "a-live-step", timedelta(seconds=60)) as (
            task_id, uuid):
        busy = admin.put(f"/task/{task_id}/cancel")
        assert busy.status_code == 503, busy.text
        assert busy.headers.get("Retry-After")
        assert Task.get(task_id, consistent_read=True).state == "rolling_back"
        assert admin.get("/image/held").json()["result"]["status"] == 2  # still pending
        store_writes.release(task_id, "a-live-step")
        assert admin.put(f"/task/{task_id}/cancel").status_code == 410
    assert_revoked_leaving_nothing(server, admin, task_id, uuid)
