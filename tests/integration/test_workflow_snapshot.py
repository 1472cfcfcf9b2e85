"""Image from a VM snapshot (SPEC §4.7, §5.3, README "Snapshot export"): the real node agent
(`python -m nodeagent`, a child process) exports through the API with the fake `zfs` the tests
shape; every test has a node (and a queue) of its own."""
from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from chalicelib.adapters import node_queues
from chalicelib.domain import exports
from chalicelib.domain.vocabulary import RUNNING
from chalicelib.persistence.models import Datacenter, Image, Snapshot, Task
from chalicelib.services.platform import read_models
from devstack import fake_zfs
from devstack.node_agent import AgentProcess
from tests.integration.workflow_support import execution_status, step_runs, wait_task
from tests.support import Api, wait_for

VM = "0f9e8d7c-6b5a-4a3b-8c2d-1e0f9a8b7c6d"
SNAP_KEY = Snapshot.key_for(1, "daily")
FILESYSTEM = "zones/db01-disk0"
ZFS_SNAPSHOT = "es-7"
MiB = 1 << 20


@dataclass
class Node:
    """A compute node: its name, its agent, and the directory that shapes its fake zfs."""
    name: str
    agent: AgentProcess
    zfs_dir: Path

    def shape(self, **control) -> None:
        """What `zfs send <fs>@es-7` does on this node (devstack/fake_zfs.py)."""
        (self.zfs_dir / f"{ZFS_SNAPSHOT}.json").write_text(json.dumps(control))

    def sent(self, size: int, incompressible: bool = False) -> bytes:
        """What the fake zfs writes for this VM's snapshot, `size` bytes of it."""
        stream = fake_zfs.blocks(f"{FILESYSTEM}@{ZFS_SNAPSHOT}", incompressible)
        data = bytearray()
        while len(data) < size:
            data += next(stream)
        return bytes(data[:size])


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


@pytest.fixture
def start_node(server, tmp_path):
    """`start_node(**agent_settings)`: a node with a running agent (5 MiB parts: S3's least,
    so that a few MiB make an export of several parts). Agents stop when the test ends."""
    agents: list[AgentProcess] = []

    def start(name: str | None = None, **settings: str) -> Node:
        name = name or f"cn-{uuid.uuid4().hex[:10]}"
        zfs_dir = tmp_path / name
        agent = AgentProcess.start(
            api_url=server.api_url, node=name, queue_url=node_queues.ensure(name),
            emulator_url=server.emulator_url, zfs_dir=zfs_dir,
            **{"part_size_mib": "5", **settings})
        agents.append(agent)
        wait_for(lambda: agent.events("agent.started"), 30,
                 message=lambda _: f"the agent did not start: {agent.lines[-5:]}")
        return Node(name, agent, zfs_dir)

    yield start
    for agent in agents:
        agent.stop(timeout=15)


def place_vm(node: str | None) -> None:
    """The platform's events: VM db01 on `node`, and its snapshot `daily` (ZFS es-7)."""
    read_models.apply("VM State", {
        "uuid": VM, "hostname": "db01", "dc": "main", "owner": "admin", "status": "running",
        "ostype": 6, "version": 1, "node": node,
        "disks": [{"image_uuid": None, "size": 20480, "zfs_filesystem": FILESYSTEM}]})
    read_models.apply("Snapshot State", {"vm_uuid": VM, "name": "daily", "disk_id": 1,
                                         "zfs_name": ZFS_SNAPSHOT, "status": "ok",
                                         "version": 1})


@pytest.fixture
def node(start_node, settings_override) -> Node:
    """VM db01 lives on a node with a running agent; exports may take 30 s."""
    settings_override(EXPORT_TIMEOUT_SECONDS="30")
    made = start_node()
    place_vm(made.name)
    return made


def snapshot_status() -> str:
    return Snapshot.get(VM, SNAP_KEY).status


def create(admin, name: str = "from-snap", **body) -> str:
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/{name}", body)
    assert r.status_code == 201, r.text
    return r.json()["task_id"]


def wait_sent(task_id: str) -> None:
    """Until the agent's heartbeat has reported bytes sent (at least one part is stored)."""
    wait_for(lambda: (Task.get(task_id).progress or {}).get("bytes_done"), 30,
             message="the agent reported no part sent")


def assert_rolled_back(server, task_id: str) -> None:
    assert Image.count("from-snap") == 0
    assert snapshot_status() == "ok"
    wait_for(lambda: server.store_keys() == [] and server.open_uploads() == [],
             message=lambda _: f"left in the store: {server.store_keys()} "
                               f"{server.open_uploads()}")
    assert execution_status(task_id) == "FAILED"


def stored_file(server, image: Image) -> bytes:
    return boto3.client("s3").get_object(Bucket=server.bucket,
                                         Key=f"images/{image.uuid}/file")["Body"].read()


# --------------------------------------------------------------------------- success
def test_export_upload_and_ingest(server, admin, node):
    node.shape(size=3 * MiB)
    task_id = create(admin, desc="from db01", tags="db")
    assert snapshot_status() == "pending"
    assert Image.get("from-snap").status == 2
    assert admin.get(f"/task/{task_id}").json()["result"]["view"] == "image_snapshot"
    r = wait_task(admin, task_id)
    assert r.status_code == 200, r.text
    image = Image.get("from-snap")
    data = stored_file(server, image)
    assert gzip.decompress(data) == node.sent(3 * MiB)
    assert r.json()["result"]["message"].startswith(
        f"Successfully created image from-snap (transferred {len(data)} bytes in ")
    assert (image.status, image.ostype, image.size, image.dc_bound) == (1, 6, 20480, "main")
    assert image.manifest_active["files"] == [
        {"sha1": hashlib.sha1(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
         "size": len(data), "compression": "gzip"}]
    assert image.manifest_active["type"] == "lx-dataset"
    assert server.store_keys() == [f"images/{image.uuid}/file", f"images/{image.uuid}/manifest"]
    assert server.open_uploads() == []
    assert snapshot_status() == "ok"
    assert Datacenter.get("main").image_count == 1
    done = node.agent.events("export.done")
    assert [(e["task_id"], e["bytes"], e["parts"]) for e in done] == [(task_id, len(data), 1)]


def test_an_export_larger_than_its_parts(server, admin, node):
    """More parts than one PUT would carry (in AWS, 5 GB per PUT; here parts of 5 MiB): the
    agent asks for a URL per part, the service checks the parts before completing."""
    node.shape(size=17 * MiB, random=True)  # incompressible: a gzip stream of 4 parts
    task_id = create(admin)
    r = wait_task(admin, task_id)
    assert r.status_code == 200, r.text
    image = Image.get("from-snap")
    data = stored_file(server, image)
    assert gzip.decompress(data) == node.sent(17 * MiB, incompressible=True)
    assert image.manifest_active["files"][0]["sha1"] == hashlib.sha1(data).hexdigest()
    [done] = node.agent.events("export.done")
    assert done["parts"] == 4 and done["bytes"] == len(data)
    assert server.open_uploads() == []


def test_a_large_export_is_ingested_in_several_runs(server, admin, node, settings_override):
    """The ingest is a checkpointed transfer too: with runs too short for more than a part,
    every run continues the ranged read, the upload and the SHA-1 where the last one stopped."""
    settings_override(TRANSFER_STEP_SECONDS="0.01")
    node.shape(size=17 * MiB, random=True)
    task_id = create(admin)
    r = wait_task(admin, task_id, timeout=60)
    assert r.status_code == 200, r.text
    assert step_runs(task_id, "IngestUpload") >= 3
    image = Image.get("from-snap")
    data = stored_file(server, image)
    assert gzip.decompress(data) == node.sent(17 * MiB, incompressible=True)
    assert image.manifest_active["files"][0]["sha1"] == hashlib.sha1(data).hexdigest()
    assert server.store_keys() == [f"images/{image.uuid}/file", f"images/{image.uuid}/manifest"]
    assert server.open_uploads() == []


def test_progress_is_reported_while_the_export_runs(server, admin, node):
    node.shape(size=12 * MiB, random=True, rate=4 * MiB)  # about 3 s: a few heartbeats
    task_id = create(admin)
    seen = wait_for(lambda: Task.get(task_id).progress, 20,
                    until=lambda p: p and p.get("step") == "export" and p.get("bytes_done"),
                    message="no export progress was recorded")
    assert 0 < seen["bytes_done"] <= 13 * MiB
    assert wait_task(admin, task_id).status_code == 200


# --------------------------------------------------------------------------- failures
def test_zfs_send_failing_mid_stream(server, admin, node):
    node.shape(size=32 * MiB, random=True, fail_at=12 * MiB, exit=1,
               stderr="cannot send 'zones/db01-disk0@es-7': I/O error")
    task_id = create(admin)
    r = wait_task(admin, task_id)
    assert r.status_code == 400
    assert r.json()["result"]["returncode"] == 5
    assert r.json()["result"]["message"] == (
        "ERROR: Snapshot export failed (zfs send exited with status 1: "
        "cannot send 'zones/db01-disk0@es-7': I/O error)")
    assert_rolled_back(server, task_id)
    [failed] = node.agent.events("export.failed")
    assert failed["task_id"] == task_id and "status 1" in failed["reason"]


def test_agent_killed_mid_export(server, admin, start_node, settings_override):
    """Nobody reports: the workflow's heartbeat timeout (3 s here) ends the task; the rollback
    (or else the cleanup) aborts the upload the agent left open."""
    settings_override(EXPORT_TIMEOUT_SECONDS="60")
    node = start_node()
    place_vm(node.name)
    node.shape(size=64 * MiB, random=True, rate=2 * MiB)
    task_id = create(admin)
    wait_sent(task_id)  # a part is in the store: the upload is open
    node.agent.kill()
    r = wait_task(admin, task_id, timeout=30)
    assert r.status_code == 400
    assert r.json()["result"]["message"] == "ERROR: The operation did not finish in time"
    assert_rolled_back(server, task_id)


def test_sigterm_during_an_export(server, admin, node):
    node.shape(size=64 * MiB, random=True, hang_at=6 * MiB)  # a zfs that stops writing
    task_id = create(admin)
    wait_sent(task_id)
    assert node.agent.stop(timeout=20) == 0
    r = wait_task(admin, task_id)
    assert r.status_code == 400
    assert r.json()["result"]["message"] == (
        "ERROR: Snapshot export failed (the node agent was stopped (SIGTERM) during the export)")
    assert_rolled_back(server, task_id)
    assert [e["event"] for e in node.agent.events()][-1] == "agent.stopped"


def test_an_agent_of_another_node_never_sees_the_request(server, admin, node, start_node):
    other = start_node()
    other.shape(size=1 * MiB)
    node.shape(size=1 * MiB)
    task_id = create(admin)
    assert wait_task(admin, task_id).status_code == 200
    assert [e["task_id"] for e in node.agent.events("export.started")] == [task_id]
    assert not [e for e in other.agent.events() if e.get("task_id") == task_id]
    assert other.agent.process.poll() is None


def test_a_vm_without_a_known_node_is_not_exportable(server, admin):
    place_vm(None)
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/from-snap", {})
    assert r.status_code == 423 and r.json() == {"detail": "Node is not operational"}
    assert Image.count() == 0 and snapshot_status() == "ok"


# --------------------------------------------------------------------------- the routes
class Playing:
    """The test receives the export request from the node's queue itself (no agent), to call
    the export routes with the right, a foreign, or an expired token."""

    def __init__(self, server, node: str) -> None:
        self.api_url = server.api_url
        self.queue = node_queues.ensure(node)

    def next_request(self) -> dict:
        sqs = boto3.client("sqs")
        message = wait_for(lambda: next(iter(sqs.receive_message(
            QueueUrl=self.queue, WaitTimeSeconds=1).get("Messages", [])), None), 20, 0,
            message="no export request reached the node's queue")
        sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return json.loads(message["Body"])

    def call(self, task_id: str, action: str, body: dict, token: str | None,
             node_token: str | None = None) -> requests.Response:
        headers = {} if token is None else {"ES-EXPORT-TOKEN": token}
        if node_token is not None:
            headers["ES-NODE-TOKEN"] = node_token
        return requests.post(f"{self.api_url}/exports/{task_id}/{action}", json=body,
                             headers=headers, timeout=10)


PLAYING_HEARTBEAT = 30  # the wait's heartbeat timeout while a test plays the agent


@pytest.fixture
def playing(server, settings_override) -> Playing:
    settings_override(EXPORT_TIMEOUT_SECONDS="30", EXPORT_HEARTBEAT_SECONDS=PLAYING_HEARTBEAT)
    name = f"cn-{uuid.uuid4().hex[:10]}"
    place_vm(name)
    return Playing(server, name)


PART = {"parts": [{"number": 1, "size": 5 * MiB}]}


def test_the_request_message(admin, playing):
    task_id = create(admin)
    request = playing.next_request()
    assert {k: v for k, v in request.items() if k not in ("export_token", "expires_at")} == {
        "type": "snapshot-export", "version": 2, "task_id": task_id,
        "node": request["node"], "vm_uuid": VM, "zfs_filesystem": FILESYSTEM,
        "snapshot": ZFS_SNAPSHOT, "compression": "gzip", "heartbeat_seconds": 10}
    assert len(request["export_token"]) >= 40
    # the message and the record name the same expiry (its rule: test_exports.py)
    assert request["expires_at"] == Task.get(task_id).export["expires_at"]
    task = Task.get(task_id)
    assert request["export_token"] not in json.dumps(task.export)  # only its digest is kept


def test_part_urls_need_the_token_of_that_task(server, admin, playing):
    first = create(admin)
    token = playing.next_request()["export_token"]
    r = playing.call(first, "parts", PART, token)
    assert r.status_code == 200 and set(r.json()["urls"]) == {"1"}
    url = r.json()["urls"]["1"]
    assert f"uploads/{first}" in url and "partNumber=1" in url and "uploadId=" in url
    assert r.json()["expires_in"] == 900

    # another task (another VM snapshot) with its own token
    read_models.apply("Snapshot State", {"vm_uuid": VM, "name": "weekly", "disk_id": 1,
                                         "zfs_name": "es-8", "status": "ok", "version": 1})
    r = admin.post(f"/vm/{VM}/snapshot/weekly/image/second", {})
    assert r.status_code == 201, r.text
    second, second_token = r.json()["task_id"], playing.next_request()["export_token"]
    for task_id, presented in [(second, token), (first, second_token), (first, None),
                               (first, "x" * 43), (first, token.upper()),
                               ("not-a-task", token), (str(uuid.uuid4()), token)]:
        for action, body in [("parts", PART), ("progress", {"bytes": 1}),
                             ("complete", {"parts": 1, "bytes": 1}),
                             ("failure", {"reason": "forged"})]:
            r = playing.call(task_id, action, body, presented)
            assert r.status_code == 403, (task_id, action, r.text)
            assert r.json() == {"detail": "Permission denied"}
    assert Task.get(first).state == Task.get(second).state == RUNNING


def test_every_report_extends_the_token(server, admin, playing):
    """A report moves the token's expiry to its own time plus the token's lifetime. No race
    with the clock: the expiry is only set back by a second, still about a lifetime ahead,
    and the report's expiry is compared with the time before it was sent."""
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    task = Task.get(task_id)
    earlier = task.export["expires_at"] - 1
    task.update(actions=[Task.export.set({**task.export, "expires_at": earlier})])
    sent_at = time.time()
    assert playing.call(task_id, "progress", {"bytes": 5}, token).status_code == 200
    moved = Task.get(task_id).export["expires_at"]
    assert moved >= exports.token_expiry(sent_at, PLAYING_HEARTBEAT) > earlier
    assert Task.get(task_id).progress["bytes_done"] == 5


def test_an_expired_token_is_refused(server, admin, playing):
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    assert playing.call(task_id, "progress", {"bytes": 0}, token).status_code == 200
    task = Task.get(task_id)  # the token's lifetime has passed (the clock, not the task)
    task.update(actions=[Task.export.set({**task.export, "expires_at": int(time.time()) - 1})])
    assert playing.call(task_id, "parts", PART, token).status_code == 403


def test_node_token_when_configured(server, admin, playing, settings_override):
    settings_override(NODE_TOKEN="cluster-secret")
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    for wrong in (None, "", "other-secret"):
        assert playing.call(task_id, "parts", PART, token, wrong).status_code == 403
    assert playing.call(task_id, "parts", PART, token, "cluster-secret").status_code == 200


@pytest.mark.parametrize("action, body", [
    ("parts", {}), ("parts", {"parts": []}), ("parts", {"parts": [{"number": 0, "size": 1}]}),
    ("parts", {"parts": [{"number": 1, "size": 6 << 30}]}),
    ("parts", {"parts": [{"number": n, "size": 1} for n in range(1, 40)]}),
    ("progress", {"bytes": -1}), ("progress", {"bytes": "12"}), ("progress", {}),
    ("complete", {"parts": 0, "bytes": 1}), ("complete", {"parts": True, "bytes": 1}),
])
def test_bad_bodies_are_400(server, admin, playing, action, body):
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    r = playing.call(task_id, action, body, token)
    assert r.status_code == 400 and r.json()["detail"], r.text


def test_completing_without_the_parts_is_400(server, admin, playing):
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    r = playing.call(task_id, "complete", {"parts": 2, "bytes": 10 * MiB}, token)
    assert r.status_code == 400
    assert r.json() == {"detail": "The upload does not hold the parts and bytes reported"}


def test_the_agent_reason_is_the_task_message_and_routes_answer_410_after(server, admin,
                                                                          playing):
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    reason = "zfs send: dataset is busy\x1b[31m\n" + "x" * 400
    assert playing.call(task_id, "failure", {"reason": reason}, token).status_code == 200
    r = wait_task(admin, task_id)
    message = r.json()["result"]["message"]
    assert message.startswith("ERROR: Snapshot export failed (zfs send: dataset is busy [31m x")
    assert "\x1b" not in message and "\n" not in message and len(message) < 360
    assert_rolled_back(server, task_id)
    for action, body in [("parts", PART), ("progress", {"bytes": 1})]:
        r = playing.call(task_id, action, body, token)
        assert r.status_code == 410 and r.json() == {"detail": "Task has already finished"}


def test_the_agent_reason_shows_no_url_credentials(server, admin, playing):
    """A node agent's failure reason is redacted like every URL-bearing text (issue 18.8)."""
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    reason = "upload to https://TOKEN123@store.example/x failed; http://bob:hunter2@h/y too"
    assert playing.call(task_id, "failure", {"reason": reason}, token).status_code == 200
    message = wait_task(admin, task_id).json()["result"]["message"]
    assert "https://***@store.example/x" in message and "http://bob:***@h/y" in message
    logged = json.dumps(admin.get("/task/log").json()["result"])
    for secret in ("TOKEN123", "hunter2"):
        assert secret not in message and secret not in logged


def test_agent_that_never_answers_times_out(server, admin, playing, settings_override):
    settings_override(EXPORT_HEARTBEAT_SECONDS="3")
    task_id = create(admin)
    playing.next_request()  # received, never acted upon
    r = wait_task(admin, task_id, timeout=60)
    assert r.status_code == 400
    assert r.json()["result"]["returncode"] == 4
    assert_rolled_back(server, task_id)


# --------------------------------------------------------------------------- request checks
def test_snapshot_in_use_and_vm_state(server, admin, playing):
    read_models.apply("Snapshot State", {"vm_uuid": VM, "name": "daily", "disk_id": 1,
                                         "status": "pending", "version": 2})
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/x1", {})
    assert r.status_code == 417 and r.json() == {"detail": "VM snapshot status is not OK"}
    read_models.apply("VM State", {"uuid": VM, "hostname": "db01", "dc": "main",
                                   "status": "deploying", "ostype": 6, "version": 5,
                                   "node": "cn-1", "disks": [
                                       {"size": 20480, "zfs_filesystem": FILESYSTEM}]})
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/x1", {})
    assert r.status_code == 423 and r.json() == {"detail": "VM is not operational"}


def test_second_image_from_a_busy_snapshot_is_417(server, admin, node):
    node.shape(size=1 * MiB)
    task_id = create(admin)
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/other", {})
    assert r.status_code == 417 and r.json() == {"detail": "VM snapshot status is not OK"}
    assert wait_task(admin, task_id).status_code == 200
