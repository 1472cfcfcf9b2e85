"""The whole local stack killed with SIGKILL in the middle of an import, an update, a delete and
a snapshot export, then started again: every task ends and every invariant holds, checked
through the API and straight in the tables and the store.

Each kill moment is brought about by events, never by sleeps: the import's file trickles until
the test lets it go (the task shows its download step), the update and the delete are held at
their last step by a gate file (devstack/step_gates.py writes a marker when they reach it: the
update has rewritten the manifest, the delete has removed the files — past its point of no
return), and the export's fake `zfs send` hangs after 12 MiB (the first 8 MiB part is in the
store's open multipart upload)."""
from __future__ import annotations

import json
import subprocess
import threading
import uuid as uuidlib
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from werkzeug import Response

from devstack import faults, step_gates
from tests.e2e.stack_process import (
    ROOT,
    clean_env,
    imagectl,
    kill_stack,
    start_stack,
    stop_stack,
    wait_raw,
)
from tests.e2e.test_e2e_restart import saved_from_now
from tests.support import Repository, wait_for

pytestmark = pytest.mark.e2e

CONTENT = b"crash image file " * 60000   # about 1 MiB
MIB = 1 << 20


@pytest.fixture
def repo(httpserver) -> Repository:
    return Repository(httpserver)


class Emulator:
    """The stack's emulator, read straight (an inspection: never faulted)."""

    def __init__(self, stack) -> None:
        state = json.loads(stack.state_file.read_text())
        session = boto3.session.Session(aws_access_key_id="testing",
                                        aws_secret_access_key="testing", region_name="us-east-1")
        self.ddb = session.resource("dynamodb", endpoint_url=state["emulator_url"])
        faults.exempt(self.ddb.meta.client)
        self.s3 = faults.exempt(session.client("s3", endpoint_url=state["emulator_url"]))
        self.prefix, self.bucket = state["table_prefix"], state["env"]["IMAGE_STORE_BUCKET"]

    def scan(self, table: str) -> list[dict]:
        items, kwargs = [], {"ConsistentRead": True}
        while True:
            page = self.ddb.Table(f"{self.prefix}-{table}").scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def uploads(self) -> list[dict]:
        return self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])

    def parts(self, upload: dict) -> list[dict]:
        return self.s3.list_parts(Bucket=self.bucket, Key=upload["Key"],
                                  UploadId=upload["UploadId"]).get("Parts", [])

    def store_keys(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def put_event(stack, folder: Path, detail_type: str, detail: dict) -> None:
    path = folder / f"{uuidlib.uuid4().hex}.json"
    path.write_text(json.dumps({"Source": "danube.platform", "DetailType": detail_type,
                                "Detail": detail}))
    assert detail_type in imagectl(stack, "event", "put", str(path)).stdout


def imported(admin, repo: Repository, name: str) -> dict:
    manifest = repo.manifest(CONTENT)
    r = admin.post(f"/image/{name}", {"manifest_url": repo.publish(manifest, content=CONTENT),
                                      "dc": "main", "alias": name, "version": "1"})
    assert r.status_code == 201, r.text
    assert wait_raw(admin, r.json()["task_id"])["status"] == "SUCCESS"
    return admin.get(f"/image/{name}").json()["result"]


def test_a_stack_killed_mid_work_ends_every_task_at_the_next_start(tmp_path, repo):
    release = threading.Event()

    def trickle(request) -> Response:
        def body():
            yield CONTENT[:1024]
            while not release.wait(0.2):
                yield CONTENT[1024:1025]   # a trickle: no read timeout fires
        return Response(body(), headers={"Content-Length": str(len(CONTENT))})

    stack_dir = tmp_path / "stack"
    gates = stack_dir / "gates"
    first = start_stack(stack_dir)
    try:
        admin = first.api(first.admin_key)
        emulator = Emulator(first)
        kept = imported(admin, repo, "crash-upd")
        doomed = imported(admin, repo, "crash-del")
        old_manifest = admin.get(f"/images/{kept['uuid']}").json()

        # a VM on the stack's node with a snapshot whose export hangs after 12 MiB
        vm_uuid, hostname = str(uuidlib.uuid4()), "crash-vm"
        (stack_dir / "zfs").mkdir(exist_ok=True)
        (stack_dir / "zfs" / "es-9.json").write_text(json.dumps(
            {"size": 64 * MIB, "random": True, "hang_at": 12 * MIB}))
        put_event(first, tmp_path, "VM State", {
            "uuid": vm_uuid, "hostname": hostname, "dc": "main", "owner": "admin",
            "node": "node1", "status": "stopped", "ostype": 1, "version": 1,
            "disks": [{"image_uuid": None, "size": 4096,
                       "zfs_filesystem": f"zones/{vm_uuid}-disk0"}]})
        put_event(first, tmp_path, "Snapshot State", {
            "vm_uuid": vm_uuid, "name": "nightly", "disk_id": 1, "zfs_name": "es-9",
            "status": "ok", "version": 1})

        gates.mkdir()
        step_gates.hold_file(gates, "step_finish").write_text("")
        tasks = {}
        r = admin.put("/image/crash-upd", {"desc": "never", "alias": "crash-new",
                                           "version": "2"})
        assert r.status_code == 201, r.text
        tasks["update"] = r.json()["task_id"]
        r = admin.delete("/image/crash-del")
        assert r.status_code == 201, r.text
        tasks["delete"] = r.json()["task_id"]
        manifest = repo.manifest(CONTENT)
        url = repo.publish(manifest)
        repo.server.expect_request(urlsplit(url).path + "/file").respond_with_handler(trickle)
        r = admin.post("/image/crash-imp", {"manifest_url": url, "dc": "main"})
        assert r.status_code == 201, r.text
        tasks["import"] = r.json()["task_id"]
        snapshot_url = f"/vm/{hostname}/snapshot/nightly/image/crash-snap"
        r = wait_for(lambda: (resp := admin.post(snapshot_url, {})).status_code != 404 and resp,
                     timeout=15, interval=0.25)
        assert r.status_code == 201, r.text
        tasks["export"] = r.json()["task_id"]

        # every task visibly in the middle of its work
        for operation in ("update", "delete"):
            marker = step_gates.reached_file(gates, "step_finish", tasks[operation])
            wait_for(marker.exists, 60, 0.2, message=f"the {operation} never reached its end")
        wait_for(lambda: admin.get(f"/task/{tasks['import']}").json()["result"]["progress"]
                 .get("step"), 30, 0.2, until=lambda step: step == "download",
                 message="the import's transfer never started")
        wait_for(lambda: [u for u in emulator.uploads() if u["Key"].startswith("uploads/")
                          and emulator.parts(u)], 60, 0.2,
                 message="the export uploaded no part")
        saved_from_now(first)  # everything above is in the saved state (a kill -9 loses 2 s)
    finally:
        kill_stack(first)      # SIGKILL to the stack's process group: API, emulator, agent
        release.set()
    step_gates.hold_file(gates, "step_finish").unlink()

    second = start_stack(stack_dir)
    try:
        admin = second.api(second.admin_key)
        emulator = Emulator(second)
        ended = {operation: wait_raw(admin, task_id) for operation, task_id in tasks.items()}
        assert {op: body["status"] for op, body in ended.items()} == {
            "update": "FAILURE", "delete": "SUCCESS", "import": "FAILURE", "export": "FAILURE"
        }, ended
        # the update rolled back to the record and the manifest it had
        assert admin.get("/image/crash-upd").json()["result"] == kept
        assert admin.get(f"/images/{kept['uuid']}").json() == old_manifest
        # the delete, past its point of no return, was completed; the others left nothing
        for name in ("crash-del", "crash-imp", "crash-snap"):
            assert admin.get(f"/image/{name}").status_code == 404, name
        assert admin.get(f"/images/{doomed['uuid']}").status_code == 404
        assert admin.get(f"/images/{manifest['uuid']}").status_code == 404
        assert admin.get("/task").json()["result"] == []

        cleanup = subprocess.run([str(ROOT / "imagectl"), "cleanup"], cwd=ROOT, text=True,
                                 capture_output=True, timeout=120,
                                 env=clean_env(DEVSTACK_DIR=str(stack_dir)))
        assert cleanup.returncode == 0, (cleanup.stdout, cleanup.stderr)
        check_invariants(emulator, kept)
    finally:
        problems = stop_stack(second)
    assert not problems, f"{problems}:\n{second.log()}"


def check_invariants(emulator: Emulator, kept: dict) -> None:
    """Straight from the tables and the store (bench/soak.py checks the same after a soak)."""
    assert [t["task_id"] for t in emulator.scan("tasks") if t.get("state") != "done"] == []
    images = {item["name"]: item for item in emulator.scan("images")}
    assert {name: int(item["status"]) for name, item in images.items()} == {"crash-upd": 1}
    item = images["crash-upd"]
    assert not item.get("task_id") and not item.get("backup"), item
    # the claims (the catalogue's migration keeps its done mark, `schema#…`, in this table)
    guards = {g["key"]: g["image_name"] for g in emulator.scan("guards")
              if not g["key"].startswith("schema#")}
    assert guards == {f"uuid#{item['uuid']}": "crash-upd",
                      f"alias#{item['alias'].lower()}#{item['version']}": "crash-upd"}
    for dc in emulator.scan("dcs"):
        bound = sum(1 for image in images.values() if image.get("dc_bound") == dc["name"])
        assert int(dc.get("image_count", 0)) == bound, dc
    assert emulator.uploads() == []
    keys = emulator.store_keys()
    assert {key.split("/")[1] for key in keys} == {kept["uuid"]}, keys
