"""Events are trusted only as far as AWS confirms them (issue 15.4).

Anyone who may put events on the default bus can send one with `source: aws.states` or
`aws.s3`. The handlers act on an execution's end only as DescribeExecution reports it, on an
upload only when the store holds it, and on platform events only from the platform's bus;
a forged event changes nothing and is counted on the dropped-events metric."""
from __future__ import annotations

import json
import logging
import uuid

import boto3
import pytest
import requests

from chalicelib.adapters import workflows
from chalicelib.domain.vocabulary import RUNNING
from chalicelib.persistence.models import Task, Vm
from tests.integration.test_workflow_import import CONTENT, gated_import
from tests.integration.test_workflow_snapshot import PART, Playing, create, place_vm
from tests.integration.workflow_support import execution_status, wait_task
from tests.support import Api

STATUS_CHANGE = "Step Functions Execution Status Change"


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


@pytest.fixture
def node(server, settings_override) -> Playing:
    """The test plays the compute node's agent (as in test_workflow_snapshot.py)."""
    settings_override(EXPORT_TIMEOUT_SECONDS="30", EXPORT_HEARTBEAT_SECONDS="30")
    name = f"cn-{uuid.uuid4().hex[:10]}"
    place_vm(name)
    return Playing(server, name)


def put_default_bus(source: str, detail_type: str, detail: dict) -> None:
    """What a forger with events:PutEvents on the default bus can send."""
    result = boto3.client("events").put_events(Entries=[{
        "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}])
    assert result["FailedEntryCount"] == 0, result


def dropped(capsys) -> list[str]:
    """The reasons of the dropped-events metric lines printed since the last call."""
    return sorted(json.loads(line)["reason"] for line in capsys.readouterr().out.splitlines()
                  if line.startswith("{") and "PlatformEventsDropped" in line)


def test_a_forged_execution_status_event_changes_nothing(server, admin, files, capsys,
                                                          caplog):
    """The issue's attack: "Step Functions Execution Status Change" events with `source:
    aws.states` and a running import's execution on the default bus. Its execution is
    RUNNING, so each is dropped and counted, and the import still ends SUCCESS."""
    caplog.set_level(logging.WARNING, logger="imageapi.events")
    gate, _, task_id = gated_import(admin, files, CONTENT)
    task = Task.get(task_id)
    arn = workflows.execution_arn(task.operation, task_id)
    machine = workflows.state_machine_arn(task.operation)
    server.events_delivered("on_execution_status")
    capsys.readouterr()
    for status in ("FAILED", "ABORTED", "TIMED_OUT", "SUCCEEDED"):
        put_default_bus("aws.states", STATUS_CHANGE, {
            "executionArn": arn, "stateMachineArn": machine, "name": task_id,
            "status": status, "error": "States.TaskFailed", "cause": "forged"})
    # the same task's id as an execution of a machine that is not this app's
    foreign = "arn:aws:states:us-east-1:123456789012:stateMachine:someone-else"
    put_default_bus("aws.states", STATUS_CHANGE, {
        "executionArn": foreign.replace(":stateMachine:", ":execution:") + ":" + task_id,
        "stateMachineArn": foreign, "name": task_id, "status": "ABORTED"})
    server.events_delivered("on_execution_status")
    assert dropped(capsys) == ["foreign-execution"] + ["unconfirmed-execution"] * 4
    assert Task.get(task_id).state == RUNNING
    lines = [r.getMessage() for r in caplog.records if "dropped execution status" in r.getMessage()]
    assert any("reason=unconfirmed-execution DescribeExecution reports RUNNING" in m
               for m in lines), lines
    gate.release.set()
    r = wait_task(admin, task_id)
    assert r.status_code == 200 and r.json()["status"] == "SUCCESS", r.text
    assert execution_status(task_id) == "SUCCEEDED"


def test_a_forged_upload_event_does_not_resume_the_export(server, admin, node, capsys):
    """"Object Created" for the task's upload key before the node completed the upload: the
    store holds no such object, so the waiting execution is not resumed (it would ingest
    nothing and fail). The real upload's own event then finishes the export."""
    task_id = create(admin)
    token = node.next_request()["export_token"]
    server.events_delivered("on_upload_created")
    capsys.readouterr()
    put_default_bus("aws.s3", "Object Created", {
        "bucket": {"name": server.bucket},
        "object": {"key": f"uploads/{task_id}", "size": 5 << 20}})
    server.events_delivered("on_upload_created")
    assert dropped(capsys) == ["unconfirmed-upload"]
    assert Task.get(task_id).state == RUNNING

    url = node.call(task_id, "parts", PART, token).json()["urls"]["1"]
    body = bytes(range(256)) * (PART["parts"][0]["size"] // 256)
    assert requests.put(url, data=body, timeout=30).status_code == 200
    r = node.call(task_id, "complete", {"parts": 1, "bytes": len(body)}, token)
    assert r.status_code == 200, r.text
    r = wait_task(admin, task_id)
    assert r.status_code == 200 and r.json()["status"] == "SUCCESS", r.text


def test_platform_events_are_heard_only_on_the_platform_bus(clean):
    """A VM State put on the default bus (with the platform's source) never reaches the
    handler; the same event on the platform's bus does."""
    vm = "5d2c8f3e-0a1b-4c2d-9e8f-7a6b5c4d3e2f"
    detail = {"uuid": vm, "hostname": "forged", "dc": "main", "owner": "admin",
              "status": "running", "ostype": 1, "version": 9, "disks": []}
    clean.put_event("VM State", detail, bus="default")
    clean.put_event("VM State", {**detail, "hostname": "real", "version": 1})
    clean.events_delivered("on_platform_event")
    stored = Vm.get(vm, consistent_read=True)
    assert (stored.hostname, stored.event_version) == ("real", 1)
