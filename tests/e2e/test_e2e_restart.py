"""The local stack keeps its data across restarts (`.devstack/`), finishes what a stop
interrupted, and starts empty when asked (`IMAGE_API_FRESH=1`, `./imagectl reset`)."""
from __future__ import annotations

import hashlib
import threading
import uuid as uuidlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug import Response

from tests.e2e.stack_process import (
    imagectl,
    kill_stack,
    last_line,
    start_stack,
    stop_stack,
    wait_raw,
)
from tests.support import Repository, wait_for

pytestmark = pytest.mark.e2e

CONTENT = b"restart image file " * 60000   # about 1.1 MiB


@pytest.fixture
def repo(httpserver) -> Repository:
    return Repository(httpserver)


def saved_file_version(path: Path) -> tuple | None:
    """Which save is on disk: each save writes a new file and renames it over the last."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def saved_from_now(stack) -> None:
    """Wait until the stack's saved state holds everything done before this call.

    The saver writes within its interval of any change, one save after another. So: make a
    change (a new user) and wait for a save; then again. The second save began after the
    first one ended, hence after this call; the changes guarantee both saves happen."""
    state = stack.directory / "data" / "emulator.pickle"
    for _ in range(2):
        before = saved_file_version(state)
        imagectl(stack, "user", "create", f"saver-{uuidlib.uuid4().hex[:8]}")
        wait_for(lambda before=before: saved_file_version(state) != before, 30,
                 message=f"the stack did not save its state to {state}")


def stopped_cleanly(stack) -> None:
    problems = stop_stack(stack)
    assert not problems, f"{problems}:\n{stack.log()}"


def store_file_sha1(api, uuid: str) -> str:
    location = api.get(f"/images/{uuid}/file").headers["Location"]
    response = requests.get(location, timeout=30)
    assert response.status_code == 200, (location, response.status_code, response.text[:300])
    return hashlib.sha1(response.content).hexdigest()


def test_data_survives_a_restart(tmp_path, repo):
    first = start_stack(tmp_path)
    try:
        assert "(stored in" in first.log()  # the generated key is shown once, with its place
        admin = first.api(first.admin_key)
        alice_key = last_line(imagectl(first, "user", "create", "alice", "--role",
                                       "main:admin", "--role", "main:image_admin").stdout)
        manifest = repo.manifest(CONTENT)
        r = admin.post("/image/kept", {"manifest_url": repo.publish(manifest, content=CONTENT),
                                       "dc": "main"})
        assert r.status_code == 201, r.text
        task_id = r.json()["task_id"]
        assert wait_raw(admin, task_id)["status"] == "SUCCESS"
        image = admin.get("/image/kept").json()["result"]
        log = admin.get("/task/log").json()["result"]
    finally:
        stopped_cleanly(first)

    second = start_stack(tmp_path)
    try:
        assert "restored from the last run" in second.log()
        assert first.admin_key not in second.log()  # never printed again
        assert second.admin_key == first.admin_key
        admin = second.api(second.admin_key)
        assert admin.get("/image/kept").json()["result"] == image
        assert second.api(alice_key).get("/image/kept").status_code == 200
        assert admin.get(f"/task/{task_id}/status").json()["status"] == "SUCCESS"
        assert admin.get("/task/log").json()["result"][:len(log)] == log
        assert store_file_sha1(admin, image["uuid"]) == manifest["files"][0]["sha1"]
        assert imagectl(second, "admin-key").stdout.strip() == second.admin_key
    finally:
        stopped_cleanly(second)

    fresh = start_stack(tmp_path, IMAGE_API_FRESH="1")
    try:
        assert "(new)" in fresh.log()
        admin = fresh.api(fresh.admin_key)  # the stored key serves the new admin too
        assert admin.get("/image").json()["result"] == []
        assert fresh.api(alice_key).get("/image").status_code == 401
    finally:
        stopped_cleanly(fresh)


def test_work_interrupted_by_a_stop_is_finished_at_the_next_start(tmp_path, repo):
    """An import whose file is still downloading when the stack stops: at the next start its
    task ends FAILURE and the import is rolled back (record, guards, store)."""
    release = threading.Event()

    def slow_file(request) -> Response:
        def body():
            yield CONTENT[:1024]
            while not release.wait(0.2):
                yield CONTENT[1024:1025]   # a trickle: no read timeout fires
        return Response(body(), headers={"Content-Length": str(len(CONTENT))})

    manifest = repo.manifest(CONTENT)
    url = repo.publish(manifest)
    repo.server.expect_request(urlsplit(url).path + "/file").respond_with_handler(slow_file)
    first = start_stack(tmp_path)
    try:
        admin = first.api(first.admin_key)
        task_id = admin.post("/image/cut", {"manifest_url": url, "dc": "main"}).json()["task_id"]
        wait_for(lambda: admin.get(f"/task/{task_id}").json()["result"]["progress"].get("step"),
                 30, 0.2, until=lambda step: step == "download",
                 message="the transfer never started")
        saved_from_now(first)  # the running task is in the saved state
    finally:
        kill_stack(first)  # like a crash: no clean stop
        release.set()

    second = start_stack(tmp_path)
    try:
        admin = second.api(second.admin_key)
        final = wait_raw(admin, task_id)
        assert final["status"] == "FAILURE", final
        assert "LocalStackStopped" in final["result"]["message"]
        assert admin.get("/image/cut").status_code == 404
        assert admin.get("/task").json()["result"] == []
        assert admin.get(f"/images/{manifest['uuid']}").status_code == 404
    finally:
        stopped_cleanly(second)


def test_reset_needs_a_stopped_stack_and_a_yes(tmp_path):
    stack = start_stack(tmp_path)
    try:
        proc = imagectl(stack, "reset", "--yes", ok=False)
        assert proc.returncode != 0 and "stop `make run` first" in proc.stderr
    finally:
        stopped_cleanly(stack)
    proc = imagectl(stack, "reset", ok=False, stdin="n\n")
    assert proc.returncode != 0 and "cancelled" in proc.stderr
    assert (tmp_path / "data").exists()
    assert "deleted" in imagectl(stack, "reset", stdin="y\n").stdout
    assert not (tmp_path / "data" / "emulator.pickle").exists()
