"""Helpers for tests of the image-server workflows (real ASL executions on the emulator)."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
from werkzeug import Response

from chalicelib.persistence.models import Task
from tests.support import wait_for

TERMINAL = {200, 400, 410}


def wait_task(api, task_id: str, timeout: float = 45.0):
    """Poll the status endpoint like a client until the task ends; returns the response."""
    def status():
        r = api.get(f"/task/{task_id}/status")
        assert r.status_code in TERMINAL or r.status_code == 201, r.text
        return r

    return wait_for(status, timeout, 0.2, until=lambda r: r.status_code in TERMINAL,
                    message=lambda r: f"task {task_id} still pending: state "
                                      f"{Task.get(task_id).state}, status {r.text}")


def execution_status(task_id: str, timeout: float = 30.0) -> str:
    """The Step Functions execution's own final status."""
    from chalicelib.adapters import workflows
    sfn = boto3.client("stepfunctions")
    task = Task.get(task_id)
    arn = workflows.execution_arn(task.operation, task_id)
    return wait_for(lambda: sfn.describe_execution(executionArn=arn)["status"], timeout, 0.2,
                    until=lambda status: status != "RUNNING",
                    message=f"the execution of task {task_id} is still RUNNING")


def start_import(api, files, name: str, content: bytes, **fields: Any):
    manifest = files.manifest(content)
    url = files.publish(manifest, content=content)
    r = api.post(f"/image/{name}", {"manifest_url": url, "dc": "main", **fields})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "PENDING" and body["result"] is None
    assert r.headers["es_task_id"] == body["task_id"]
    return body["task_id"], manifest


class Gate:
    """A file handler that trickles a byte now and then (so no read timeout fires) until it
    is released, then sends the rest: the transfer stays in flight as long as a test needs."""

    def __init__(self, content: bytes, head: int = 1024) -> None:
        self.content = content
        self.head = head
        self.started = threading.Event()
        self.release = threading.Event()

    def handler(self, request) -> Response:
        def body():
            self.started.set()
            sent = self.head
            yield self.content[:sent]
            deadline = time.monotonic() + 30
            while not self.release.wait(0.2) and time.monotonic() < deadline:
                yield self.content[sent:sent + 1]
                sent += 1
            yield self.content[sent:]
        return Response(body(), headers={"Content-Length": str(len(self.content))})


class FlakyFile:
    """Fails with `status` the first `failures` times, then serves the content."""

    def __init__(self, content: bytes, failures: int, status: int = 500) -> None:
        self.content = content
        self.failures = failures
        self.status = status
        self.calls = 0

    def handler(self, request) -> Response:
        self.calls += 1
        if self.calls <= self.failures:
            return Response("busy", status=self.status)
        return Response(self.content)


def put_status_event(task_id: str, status: str, error: str | None = None) -> None:
    """A Step Functions status-change event as AWS would publish it (duplicate or late)."""
    from chalicelib.adapters import workflows
    task = Task.get(task_id)
    arn = workflows.execution_arn(task.operation, task_id)
    detail = {"executionArn": arn, "name": task_id, "status": status, "error": error,
              "stateMachineArn": workflows.state_machine_arn(task.operation)}
    result = boto3.client("events").put_events(Entries=[{
        "Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
        "Detail": json.dumps(detail)}])
    assert result["FailedEntryCount"] == 0
