"""Image from a VM snapshot (SPEC §4.7, §5.3). The tests play the compute node's agent."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import random

import boto3
import pytest
import requests

from chalicelib.persistence.models import Datacenter, Image, Snapshot
from chalicelib.services.platform import read_models
from tests.integration.workflow_support import execution_status, step_runs, wait_task
from tests.support import Api, wait_for

VM = "0f9e8d7c-6b5a-4a3b-8c2d-1e0f9a8b7c6d"
SNAP_KEY = Snapshot.key_for(1, "daily")


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


@pytest.fixture
def vm(server):
    read_models.apply("VM State", {
        "uuid": VM, "hostname": "db01", "dc": "main", "owner": "admin", "status": "running",
        "ostype": 6, "version": 1,
        "disks": [{"image_uuid": None, "size": 20480, "zfs_filesystem": "zones/db01-disk0"}]})
    read_models.apply("Snapshot State", {"vm_uuid": VM, "name": "daily", "disk_id": 1,
                                         "zfs_name": "es-7", "status": "ok", "version": 1})
    drain_requests()
    return VM


def queue_url() -> str:
    return os.environ["NODE_AGENT_QUEUE_URL"]


def drain_requests() -> None:
    sqs = boto3.client("sqs")
    while sqs.receive_message(QueueUrl=queue_url(), WaitTimeSeconds=0).get("Messages"):
        sqs.purge_queue(QueueUrl=queue_url())


def next_request(timeout: float = 20) -> dict:
    sqs = boto3.client("sqs")
    message = wait_for(lambda: next(iter(sqs.receive_message(
        QueueUrl=queue_url(), WaitTimeSeconds=1).get("Messages", [])), None), timeout, 0,
        message="no export request reached the node-agent queue")
    sqs.delete_message(QueueUrl=queue_url(), ReceiptHandle=message["ReceiptHandle"])
    return json.loads(message["Body"])


def snapshot_status() -> str:
    return Snapshot.get(VM, SNAP_KEY).status


def create(admin, **body):
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/from-snap", body)
    assert r.status_code == 201, r.text
    return r.json()["task_id"]


def test_export_upload_and_ingest(server, admin, vm):
    task_id = create(admin, desc="from db01", tags="db")
    request = next_request()
    assert request["task_id"] == task_id and request["snapshot"] == "es-7"
    assert request["zfs_filesystem"] == "zones/db01-disk0" and request["task_token"]
    assert snapshot_status() == "pending"
    assert Image.get("from-snap").status == 2
    assert admin.get(f"/task/{task_id}").json()["result"]["view"] == "image_snapshot"

    data = gzip.compress(b"zfs send stream " * 100000, mtime=0)
    assert requests.put(request["upload_url"], data=data, timeout=30).status_code == 200
    r = wait_task(admin, task_id)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["message"].startswith(
        f"Successfully created image from-snap (transferred {len(data)} bytes in ")

    image = Image.get("from-snap")
    assert (image.status, image.ostype, image.size, image.dc_bound) == (1, 6, 20480, "main")
    assert image.manifest_active["files"] == [
        {"sha1": hashlib.sha1(data).hexdigest(), "size": len(data), "compression": "gzip"}]
    assert image.manifest_active["type"] == "lx-dataset"
    keys = server.store_keys()
    assert keys == [f"images/{image.uuid}/file", f"images/{image.uuid}/manifest"]
    assert snapshot_status() == "ok"
    assert Datacenter.get("main").image_count == 1


def test_a_large_export_is_ingested_in_several_runs(server, admin, vm, settings_override):
    """The ingest is a checkpointed transfer too: with runs too short for more than a part,
    every run continues the ranged read, the upload and the SHA-1 where the last one stopped."""
    settings_override(TRANSFER_STEP_SECONDS="0.01")
    task_id = create(admin)
    request = next_request()
    data = random.Random(3).randbytes(17 << 20)  # 4 parts of 5 MiB
    assert requests.put(request["upload_url"], data=data, timeout=60).status_code == 200
    r = wait_task(admin, task_id, timeout=60)
    assert r.status_code == 200, r.text
    assert step_runs(task_id, "IngestUpload") >= 3
    image = Image.get("from-snap")
    assert image.manifest_active["files"][0]["sha1"] == hashlib.sha1(data).hexdigest()
    stored = boto3.client("s3").get_object(Bucket=server.bucket,
                                           Key=f"images/{image.uuid}/file")["Body"].read()
    assert stored == data
    assert server.store_keys() == [f"images/{image.uuid}/file", f"images/{image.uuid}/manifest"]
    assert server.open_uploads() == []


def test_node_agent_that_never_answers_times_out(server, admin, vm):
    task_id = create(admin)
    next_request()  # received, never acted upon
    r = wait_task(admin, task_id, timeout=60)
    assert r.status_code == 400
    assert r.json()["result"]["returncode"] == 4
    assert Image.count("from-snap") == 0
    assert snapshot_status() == "ok"
    wait_for(lambda: server.store_keys() == [] and server.open_uploads() == [])
    assert execution_status(task_id) == "FAILED"


def test_node_agent_reports_a_failed_export(server, admin, vm):
    task_id = create(admin)
    request = next_request()
    boto3.client("stepfunctions").send_task_failure(
        taskToken=request["task_token"], error="ExportFailed", cause="zfs send: dataset is busy")
    r = wait_task(admin, task_id)
    assert r.json()["result"]["returncode"] == 5
    # AWS passes the cause through; the emulator's SendTaskFailure drops it
    assert r.json()["result"]["message"] in (
        "ERROR: Snapshot export failed (zfs send: dataset is busy)",
        "ERROR: Snapshot export failed (no reason given)")
    assert Image.count("from-snap") == 0 and snapshot_status() == "ok"


def test_snapshot_in_use_and_vm_state(server, admin, vm):
    read_models.apply("Snapshot State", {"vm_uuid": VM, "name": "daily", "disk_id": 1,
                                         "status": "pending", "version": 2})
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/x1", {})
    assert r.status_code == 417 and r.json() == {"detail": "VM snapshot status is not OK"}
    read_models.apply("VM State", {"uuid": VM, "hostname": "db01", "dc": "main",
                                   "status": "deploying", "ostype": 6, "version": 5, "disks": [
                                       {"size": 20480, "zfs_filesystem": "zones/db01-disk0"}]})
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/x1", {})
    assert r.status_code == 423 and r.json() == {"detail": "VM is not operational"}


def test_second_image_from_a_busy_snapshot_is_417(server, admin, vm):
    task_id = create(admin)
    r = admin.post(f"/vm/{VM}/snapshot/daily/image/other", {})
    assert r.status_code == 417 and r.json() == {"detail": "VM snapshot status is not OK"}
    request = next_request()
    requests.put(request["upload_url"], data=gzip.compress(b"x" * 1000), timeout=30)
    assert wait_task(admin, task_id).status_code == 200
