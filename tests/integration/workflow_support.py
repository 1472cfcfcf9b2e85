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
    is released, then sends the rest: the transfer stays in flight as long as a test needs.
    `deadline` (seconds from the first byte) ends the trickle of a test that forgot to release;
    it must outlast everything the test does meanwhile, on the slowest machine."""

    def __init__(self, content: bytes, head: int = 1024, deadline: float = 30.0) -> None:
        self.content = content
        self.head = head
        self.deadline = deadline
        self.started = threading.Event()
        self.release = threading.Event()

    def handler(self, request) -> Response:
        def body():
            self.started.set()
            sent = self.head
            yield self.content[:sent]
            deadline = time.monotonic() + self.deadline
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


class RangeFile:
    """An image file served like a repository would: with an ETag, `Accept-Ranges: bytes` and
    ranges (`Range` + `If-Range`), at `rate` bytes/s. It remembers where every request asked
    to start. Faults for the tests: `ranges=False` ignores Range (always the whole file, and
    no Accept-Ranges), `break_at` ends the first response after that many bytes (a reset
    connection), `etags` changes the ETag from one request to the next."""

    def __init__(self, content: bytes, *, rate: float = 0, ranges: bool = True,
                 break_at: int | None = None, etags: list[str] | None = None) -> None:
        self.content = content
        self.rate = rate
        self.ranges = ranges
        self.break_at = break_at
        self.etags = list(etags or ['"v1"'])
        self.starts: list[int] = []       # the offset each request asked for (0: whole file)
        self.statuses: list[int] = []

    def handler(self, request) -> Response:
        etag = self.etags[0] if len(self.etags) == 1 else self.etags.pop(0)
        start = self._start(request, etag)
        self.starts.append(self._asked(request))
        body = self.content[start:]
        headers = {"ETag": etag, "Content-Length": str(len(body))}
        if self.ranges:
            headers["Accept-Ranges"] = "bytes"
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(self.content) - 1}/{len(self.content)}"
        self.statuses.append(status)
        cut, self.break_at = self.break_at, None  # one broken response at the most
        return Response(self._paced(body, cut), status=status, headers=headers)

    def _asked(self, request) -> int:
        value = request.headers.get("Range", "")
        return int(value[len("bytes="):].split("-")[0]) if value.startswith("bytes=") else 0

    def _start(self, request, etag: str) -> int:
        if not self.ranges or "Range" not in request.headers:
            return 0
        if_range = request.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            return 0  # the file changed: the whole of it (RFC 9110 If-Range)
        return self._asked(request)

    def _paced(self, body: bytes, cut: int | None):
        step = 256 * 1024
        limit = len(body) if cut is None else cut
        for offset in range(0, limit, step):
            yield body[offset:min(offset + step, limit)]
            if self.rate:
                time.sleep(step / self.rate)
        if cut is not None:
            raise ConnectionResetError("the repository went away")


def step_runs(task_id: str, state: str) -> int:
    """How often the execution entered `state` (from its history, as Step Functions shows)."""
    from chalicelib.adapters import workflows
    task = Task.get(task_id)
    arn = workflows.execution_arn(task.operation, task_id)
    history = boto3.client("stepfunctions").get_execution_history(executionArn=arn,
                                                                  maxResults=1000)
    return sum(1 for event in history["events"] if event["type"] == "TaskStateEntered"
               and event.get("stateEnteredEventDetails", {}).get("name") == state)


def end_execution_outside_its_catch(task_id: str, status: str = "TIMED_OUT") -> None:
    """End the task's execution in the emulator as AWS ends one past its `TimeoutSeconds`:
    where it is, with no Catch run. Its states are stopped and it is marked `status` while the
    emulator's Step Functions lock is held, so DescribeExecution never shows anything else;
    the local stack's watcher then puts AWS's status-change event."""
    import datetime

    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from chalicelib.adapters import workflows
    from devstack.emulator import ACCOUNT, REGION
    from devstack.emulator_contract import SFN_LOCK
    task = Task.get(task_id)
    arn = workflows.execution_arn(task.operation, task_id)
    backend = stepfunctions_parser_backends[ACCOUNT][REGION]
    with SFN_LOCK:
        [execution] = [e for machine in backend.state_machines for e in machine.executions
                       if e.exec_arn == arn]
        execution.stop(datetime.datetime.now(tz=datetime.UTC), "States.Timeout", None)
        execution.exec_status = ExecutionStatus(status)
