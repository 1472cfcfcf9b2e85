"""POST /image/<name> with an image server: the import workflow and its faults (SPEC §4.3, §5)."""
from __future__ import annotations

import hashlib
import json
import threading

import boto3
import pytest
from werkzeug import Response

from chalicelib.persistence.models import Datacenter, Guard, Image, Task, TaskLogEntry
from tests.integration.workflow_support import (
    FlakyFile,
    Gate,
    end_execution_outside_its_catch,
    execution_status,
    put_status_event,
    start_import,
    wait_task,
)
from tests.support import Api, wait_for

CONTENT = bytes(range(256)) * 4096 * 3   # 3 MiB


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


def assert_rolled_back(server, name: str, uuid: str) -> None:
    """Failure leaves nothing: no record, no guards, no count, no object, no open upload."""
    assert Image.count(name) == 0
    assert Guard.count(f"uuid#{uuid}") == 0
    assert Datacenter.get("main").image_count == 0
    wait_for(lambda: not server.store_keys() and not server.open_uploads(), timeout=10)


def test_import_streams_the_file_and_verifies_it(server, admin, files):
    task_id, manifest = start_import(admin, files, "img1", CONTENT)
    pending = admin.get("/image/img1").json()["result"]
    assert pending["status"] in (1, 2)
    r = wait_task(admin, task_id)
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["returncode"] == 0
    assert result["message"].startswith(
        f"Successfully imported image img1 (transferred {len(CONTENT)} bytes in ")

    image = Image.get("img1")
    assert image.status == 1 and image.task_id is None
    assert image.manifest_active == image.manifest
    s3 = boto3.client("s3")
    stored = s3.get_object(Bucket=server.bucket, Key=f"images/{image.uuid}/file")["Body"].read()
    assert hashlib.sha1(stored).hexdigest() == manifest["files"][0]["sha1"]
    stored_manifest = json.loads(s3.get_object(
        Bucket=server.bucket, Key=f"images/{image.uuid}/manifest")["Body"].read())
    assert stored_manifest == image.manifest and stored_manifest["files"] == [
        {**manifest["files"][0], "sha256": hashlib.sha256(CONTENT).hexdigest()}]
    assert server.open_uploads() == []
    assert execution_status(task_id) == "SUCCEEDED"

    done = admin.get(f"/task/{task_id}/done")
    assert done.status_code == 200 and done.json() == {"task_id": task_id, "done": True}
    view = admin.get(f"/task/{task_id}").json()["result"]
    assert view["view"] == "image_manage" and view["method"] == "POST" and view["name"] == "img1"
    assert view["progress"]["bytes_done"] == len(CONTENT)
    statuses = sorted(e.status for e in TaskLogEntry.query("main") if e.task_id == task_id)
    assert statuses == ["PENDING", "SUCCESS", "SUCCESS"]  # import pending, done, DC attach


def test_pending_image_is_locked_and_shows_progress(server, admin, files):
    gate, _, task_id = gated_import(admin, files, CONTENT)
    assert admin.get("/image/img1").json()["result"]["status"] == 2
    assert admin.get(f"/task/{task_id}/status").status_code == 201
    assert admin.get(f"/task/{task_id}/done").json()["done"] is False
    assert admin.get("/task").json()["result"] == [task_id]
    for response in (admin.put("/image/img1", {"desc": "x"}), admin.delete("/image/img1")):
        assert response.status_code == 417
        assert response.json() == {"detail": "Image status is not OK"}
    owner_change = admin.put("/image/img1", {"owner": "admin"})
    assert owner_change.status_code == 417
    gate.release.set()
    assert wait_task(admin, task_id).status_code == 200
    assert admin.get("/task").json()["result"] == []


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def gated_import(admin, files, content: bytes, **fields):
    """Start an import whose file transfer stays in flight until `gate.release` is set."""
    gate = Gate(content)
    manifest = files.manifest(content)
    url = files.publish(manifest)
    files.server.expect_request(_path(url) + "/file").respond_with_handler(gate.handler)
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main",
                                         **fields}).json()["task_id"]
    assert gate.started.wait(20)
    return gate, manifest, task_id


@pytest.mark.parametrize("status,reason", [(404, "404 Client Error: NOT FOUND"),
                                           (403, "403 Client Error: FORBIDDEN")])
def test_missing_file_fails_with_esimg_code_6(server, admin, files, status, reason):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    files.server.expect_request(_path(url) + "/file").respond_with_data("no", status=status)
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    r = wait_task(admin, task_id)
    message = f"ERROR: Could not download image file ({reason})"
    assert r.status_code == 400
    assert r.json() == {"task_id": task_id, "status": "FAILURE", "result": {
        "returncode": 6, "message": message,
        "detail": f"Got bad return code (6). Error: {message}"}}
    assert_rolled_back(server, "img1", manifest["uuid"])
    assert execution_status(task_id) == "FAILED"


def test_server_error_once_is_retried(server, admin, files):
    flaky = FlakyFile(CONTENT, failures=1)
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    files.server.expect_request(_path(url) + "/file").respond_with_handler(flaky.handler)
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    assert wait_task(admin, task_id).status_code == 200
    assert flaky.calls == 2
    assert Image.get("img1").status == 1


def test_server_error_always_rolls_back_after_retries(server, admin, files):
    flaky = FlakyFile(CONTENT, failures=100, status=503)
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    files.server.expect_request(_path(url) + "/file").respond_with_handler(flaky.handler)
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    r = wait_task(admin, task_id)
    assert r.status_code == 400
    assert r.json()["result"]["returncode"] == 6
    assert "503 Server Error" in r.json()["result"]["message"]
    assert flaky.calls == 3  # the first try and two retries
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_checksum_mismatch(server, admin, files):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest, content=b"Y" * len(CONTENT))
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    r = wait_task(admin, task_id)
    actual = hashlib.sha1(b"Y" * len(CONTENT)).hexdigest()
    expected = manifest["files"][0]["sha1"]
    assert r.json()["result"]["returncode"] == 8
    assert r.json()["result"]["message"] == \
        f"ERROR: Image file checksum mismatch ({expected} != {actual})"
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_size_mismatch_shorter_file(server, admin, files):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest, content=CONTENT[:-10])
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    r = wait_task(admin, task_id)
    assert r.json()["result"]["returncode"] == 8
    assert r.json()["result"]["message"] == \
        f"ERROR: Image file size mismatch ({len(CONTENT)} != {len(CONTENT) - 10})"
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_larger_file_is_stopped_early(server, admin, files):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest, content=CONTENT + b"extra")
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    r = wait_task(admin, task_id)
    assert r.json()["result"]["returncode"] == 8
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_truncated_transfer(server, admin, files):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)

    def truncated(request):
        return Response(iter([CONTENT[: len(CONTENT) // 2]]),
                        headers={"Content-Length": str(len(CONTENT))})

    files.server.expect_request(_path(url) + "/file").respond_with_handler(truncated)
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    r = wait_task(admin, task_id)
    assert r.status_code == 400
    assert r.json()["result"]["message"].startswith("ERROR: Could not download image file (")
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_slow_server_times_out(server, admin, files):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    # The server sends the first bytes, then nothing more until the task has ended: however
    # slow the machine, the read waits longer than FILE_TIMEOUT_SECONDS (1 s in the test stack).
    task_ended = threading.Event()

    def slow(request):
        def body():
            yield CONTENT[:100]
            task_ended.wait(120)  # a cap only, so that the server's thread always ends
            yield CONTENT[100:]
        return Response(body(), headers={"Content-Length": str(len(CONTENT))})

    files.server.expect_request(_path(url) + "/file").respond_with_handler(slow)
    try:
        task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
        r = wait_task(admin, task_id, timeout=60)
    finally:
        task_ended.set()
    assert r.json()["result"]["returncode"] == 6
    assert r.json()["result"]["message"] == "ERROR: Could not download image file (Read timed out)"
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_file_url_under_the_source_policy(server, admin, files):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    r = admin.post("/image/img1", {"manifest_url": url, "dc": "main",
                                   "file_url": "http://169.254.169.254/latest/file"})
    task_id = r.json()["task_id"]
    result = wait_task(admin, task_id).json()["result"]
    assert result["returncode"] == 6
    assert result["message"] == \
        "ERROR: Could not download image file (Access to this address is not allowed)"
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_execution_stopped_from_outside(server, admin, files):
    gate, manifest, task_id = gated_import(admin, files, CONTENT * 3)
    from chalicelib.adapters import workflows
    boto3.client("stepfunctions").stop_execution(
        executionArn=workflows.execution_arn("import", task_id), error="Operator", cause="test")
    r = wait_task(admin, task_id)
    assert r.status_code == 410 and r.json()["status"] == "REVOKED"
    gate.release.set()   # the interrupted step finds the task ended and cleans up after itself
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_cancel_through_the_api(server, admin, files):
    gate, manifest, task_id = gated_import(admin, files, CONTENT * 3)
    r = admin.put(f"/task/{task_id}/cancel")
    assert r.status_code == 410 and r.json()["status"] == "REVOKED"
    assert admin.get(f"/task/{task_id}/status").status_code == 410
    assert Image.count("img1") == 0
    assert execution_status(task_id) == "ABORTED"
    gate.release.set()
    assert_rolled_back(server, "img1", manifest["uuid"])
    again = admin.put(f"/task/{task_id}/cancel")
    assert again.status_code == 406


def observable(server, task_id: str) -> dict:
    """Everything a status-event handler acting on the task could change: the task, its
    status answer and log entries, the image and its guards, the DC's count, the store."""
    s3 = boto3.client("s3")
    return {
        "task": Task.get(task_id, consistent_read=True).serialize(),
        "status": Api(server.api_url, server.admin_key).get(f"/task/{task_id}/status").json(),
        "log": sorted((e.sk, e.status, e.msg, e.detail)
                      for e in TaskLogEntry.query("main") if e.task_id == task_id),
        "image": Image.get("img1", consistent_read=True).serialize(),
        "guards": sorted(str(g.serialize()) for g in Guard.scan()),
        "image_count": Datacenter.get("main").image_count,
        "store": {o["Key"]: o["ETag"] for o in s3.list_objects_v2(
            Bucket=server.bucket).get("Contents", [])},
        "uploads": server.open_uploads(),
    }


def test_duplicate_and_late_status_events_change_nothing(server, admin, files):
    """AWS delivers status events at least once and in no particular order: events for an
    execution whose task already ended SUCCESS must neither roll it back nor end it again."""
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    assert wait_task(admin, task_id).status_code == 200
    assert execution_status(task_id) == "SUCCEEDED"
    before = observable(server, task_id)
    assert before["status"]["status"] == "SUCCESS" and len(before["store"]) == 2
    put_status_event(task_id, "SUCCEEDED")                        # a duplicate
    put_status_event(task_id, "FAILED", error="States.TaskFailed")  # would roll back
    put_status_event(task_id, "TIMED_OUT")
    put_status_event(task_id, "ABORTED")                          # would revoke
    server.events_delivered("on_execution_status")   # all four were handled
    assert observable(server, task_id) == before


def test_status_event_finishes_a_task_its_workflow_could_not(server, admin, files):
    """An execution that died outside its Catch: the status event alone rolls back."""
    gate, manifest, task_id = gated_import(admin, files, CONTENT * 3)
    end_execution_outside_its_catch(task_id, "TIMED_OUT")
    r = wait_task(admin, task_id)
    assert r.status_code == 400 and r.json()["result"]["returncode"] == 4
    gate.release.set()
    assert_rolled_back(server, "img1", manifest["uuid"])


def test_callback_is_sent_once_and_signed(server, admin, files, httpserver):
    from chalicelib.domain.callbacks import sign
    from chalicelib.persistence.models import User
    received = []

    def receiver(request):
        received.append((request.get_data(), dict(request.headers)))
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(receiver)
    task_id, _ = start_import(admin, files, "img1", CONTENT,
                              cb_url=httpserver.url_for("/hook"), cb_method="POST")
    assert wait_task(admin, task_id).status_code == 200
    # the task's ending announced it; the "Task Ended" handler sent it
    wait_for(lambda: received, message="no callback arrived")
    assert execution_status(task_id) == "SUCCEEDED"
    # a late status event for the execution, or the announcement again, sends no second one
    put_status_event(task_id, "SUCCEEDED")
    server.events_delivered("on_execution_status")
    server.put_event("Task Ended", {"task_id": task_id}, source="imageapi.tasks", bus="default")
    server.events_delivered("on_task_ended")
    assert len(received) == 1
    body, headers = received[0]
    key = User.get("admin").callback_key
    assert headers["Es-Signature"] == sign(body, key)
    payload = json.loads(body)
    assert payload["task_id"] == task_id and payload["status"] == "SUCCESS"
    assert payload["security_token"] == hashlib.md5(
        (payload["random_token"] + key).encode()).hexdigest()


def test_no_request_waits_for_a_callback_receiver(server, admin, files, loopback_server):
    """A receiver that does not answer, or answers an endless body, holds nothing: the cancel
    that ends the task answers at once, and the answer is never read (issue 9.6, 9.7)."""
    entered, release = threading.Event(), threading.Event()

    def stuck(request):
        entered.set()
        release.wait(60)  # longer than the client waits for an answer (30 s)
        return Response("late")

    def endless(request):
        return Response((b"z" * 65536 for _ in range(1 << 20)),  # 64 GiB, gzip or not
                        headers={"Content-Encoding": "gzip"}, direct_passthrough=True)

    loopback_server.expect_request("/stuck").respond_with_handler(stuck)
    loopback_server.expect_request("/endless").respond_with_handler(endless)
    try:
        gate, manifest, task_id = gated_import(admin, files, CONTENT * 3,
                                               cb_url=loopback_server.url_for("/stuck"))
        # before: the cancel sent the callback itself and waited for the receiver
        r = admin.put(f"/task/{task_id}/cancel")
        assert r.status_code == 410
        assert entered.wait(20), "the callback was not sent"
        gate.release.set()
        assert_rolled_back(server, "img1", manifest["uuid"])

        task_id, _ = start_import(admin, files, "img2", CONTENT,
                                  cb_url=loopback_server.url_for("/endless"))
        assert wait_task(admin, task_id).status_code == 200
        wait_for(lambda: Task.get(task_id).callback_sent, 30,
                 message="the callback to the endless receiver was never sent")
        server.events_delivered("on_task_ended")  # the handler returned: it read no body
    finally:
        release.set()


def test_bad_callback_url_is_a_field_error(server, admin, files):
    manifest = files.manifest(CONTENT)
    r = admin.post("/image/img1", {"manifest_url": files.publish(manifest, content=CONTENT),
                                   "dc": "main", "cb_url": "nope", "cb_method": "PATCH"})
    assert r.status_code == 400
    assert set(r.json()["result"]) == {"cb_url", "cb_method"}


def test_a_password_in_a_url_is_used_but_never_shown(server, admin, files):
    """`http://user:password@host/…` fetches with the credentials; task details, the task log
    and every message show `user:***@` (issue 9.4)."""
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest, content=CONTENT).replace("http://", "http://bob:hunter2@")
    r = admin.post("/image/img1", {"manifest_url": url, "dc": "main",
                                   "cb_url": url.replace("/manifest", "/callback")})
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    assert wait_task(admin, task_id).status_code == 200
    authorizations = {request.path: request.headers.get("Authorization")
                      for request, _ in files.server.log}
    assert set(authorizations.values()) == {"Basic Ym9iOmh1bnRlcjI="}  # bob:hunter2, as given
    shown = json.dumps([admin.get(f"/task/{task_id}").json(),
                        admin.get(f"/task/{task_id}/status").json(),
                        admin.get("/task/log", params={"limit": 1000}).json()])
    assert "hunter2" not in shown
    assert "bob:***@" in shown
    assert Task.get(task_id).request["file_url"].startswith("http://bob:hunter2@")  # for the fetch


def test_racing_deliveries_send_one_callback(server, admin, files, httpserver):
    """Duplicate "Task Ended" deliveries racing each other (8 released together, 5 rounds):
    the claim on the task lets exactly one of them send."""
    from chalicelib.services.tasks import callbacks
    from tests.integration.racing import race
    received = []
    httpserver.expect_request("/hook").respond_with_handler(
        lambda request: received.append(request.get_data()) or Response("ok"))
    for round_ in range(5):
        task_id, _ = start_import(admin, files, f"race{round_}", CONTENT + bytes([round_]),
                                  cb_url=httpserver.url_for("/hook"))
        assert wait_task(admin, task_id).status_code == 200
        wait_for(lambda n=2 * round_ + 1: len(received) == n, message="no callback")
        Task(task_id).update(actions=[Task.callback_sent.remove()])  # as if never sent
        before = len(received)
        sent = race(*[lambda t=task_id: callbacks.deliver(t) for _ in range(8)])
        assert sum(1 for ok in sent if ok) == 1 and len(received) == before + 1, round_
