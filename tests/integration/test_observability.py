"""Observability (issue 10.6) through the session's stack, which runs in-process: JSON log lines
with the request's and the task's context, CloudWatch EMF lines when tasks end, transfers
finish, keys are refused and the cleanup runs, and URL passwords still redacted in JSON.

The stack's lines are written to whatever sys.stdout is at the time, so `capsys` sees the
lines of every thread (the API's, the steps', the event pumps').
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from tests.integration.workflow_support import Gate, start_import, wait_task
from tests.support import wait_for

CONTENT = b"observable image bytes " * 64


@pytest.fixture
def json_logs(clean, monkeypatch):
    """The stack's logging as in AWS and `make run` (LOG_FORMAT=json), whatever the session
    started with; restored afterwards."""
    from app import app
    from chalicelib.logs import configure_logging
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    configure_logging(app)
    yield
    monkeypatch.undo()
    configure_logging(app)


class Lines:
    """What the stack has written on stdout so far, as parsed JSON lines."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.text = ""

    def read(self) -> list[dict[str, Any]]:
        self.text += self.capsys.readouterr().out
        parsed = []
        for line in self.text.splitlines():
            if line.startswith("{"):
                parsed.append(json.loads(line))
        return parsed

    def logs(self) -> list[dict[str, Any]]:
        return [line for line in self.read() if "_aws" not in line and "level" in line]

    def metrics(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.read():
            for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
                if any(m["Name"] == name for m in directive["Metrics"]):
                    assert directive["Namespace"] == "imageapi"
                    assert name in line
                    found.append(line)
        return found

    def wait_metric(self, name: str, **dimensions: str) -> dict[str, Any]:
        def matching() -> list[dict[str, Any]]:
            return [line for line in self.metrics(name)
                    if all(line.get(k) == v for k, v in dimensions.items())]
        return wait_for(matching, 20, 0.1, until=bool,
                        message=f"no {name} {dimensions} line in:\n{self.text}")[-1]


@pytest.fixture
def lines(json_logs, capsys) -> Lines:
    capsys.readouterr()  # what came before the test
    return Lines(capsys)


def dimensions_of(line: dict[str, Any]) -> list[str]:
    [directive] = line["_aws"]["CloudWatchMetrics"]
    [dimension_set] = directive["Dimensions"]
    return dimension_set


# --- logs --------------------------------------------------------------------------------------

def test_a_request_logs_json_lines_with_its_request_id_and_user(admin, lines):
    r = admin.get("/accounts/logout")  # logs "logout: user ... from ..." on imageapi.auth
    assert r.status_code == 200, r.text
    [line] = [line for line in lines.logs() if line["message"].startswith("logout:")]
    assert line["level"] == "INFO" and line["logger"] == "imageapi.auth"
    assert line["user"] == "admin"
    assert line["request_id"]
    if "x-amzn-RequestId" in r.headers:
        assert line["request_id"] == r.headers["x-amzn-RequestId"]
    assert line["timestamp"].endswith("Z")
    # every line is one JSON object: nothing of this request was written as plain text
    assert "logout: user" not in "".join(
        text for text in lines.text.splitlines() if not text.startswith("{"))


def test_each_request_has_its_own_request_id(admin, lines):
    admin.get("/accounts/logout")
    admin.get("/accounts/logout")
    ids = [line["request_id"] for line in lines.logs() if line["message"].startswith("logout:")]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_a_task_steps_lines_carry_the_task_id_and_the_image_name(server, admin, files, lines):
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    files.server.expect_request(_path(url) + "/file").respond_with_data("gone", status=404)
    task_id = admin.post("/image/imgobs", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    assert wait_task(admin, task_id).status_code == 400
    step_lines = wait_for(
        lambda: [line for line in lines.logs() if line["logger"] == "imageapi.steps"],
        20, 0.1, until=bool, message=lambda _: lines.text)
    [failed] = [line for line in step_lines if "Could not download" in line["message"]]
    assert failed["level"] == "WARNING"
    assert failed["task_id"] == task_id
    assert failed["image_name"] == "imgobs"
    assert failed["request_id"]  # the step's Lambda invocation
    # the rollback's ending is counted, with the task's context on the line
    ended = lines.wait_metric("Tasks", operation="import", outcome="failed")
    assert dimensions_of(ended) == ["operation", "outcome"]
    assert ended["Tasks"] == 1
    assert ended["task_id"] == task_id and ended["image_name"] == "imgobs"


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_url_passwords_are_redacted_in_json_lines(lines):
    log = logging.getLogger("imageapi.test")
    url = "https://bob:hunter2@images.example.com/x.zfs.gz"
    log.warning("fetching %s", url)
    try:
        raise ValueError(f"cannot fetch {url}")
    except ValueError:
        log.exception("failed %s", url)
    found = [line for line in lines.logs() if line["logger"] == "imageapi.test"]
    assert len(found) == 2
    assert "hunter2" not in lines.text
    assert found[0]["message"] == "fetching https://bob:***@images.example.com/x.zfs.gz"
    assert found[1]["errorType"] == "ValueError"
    assert "bob:***@" in found[1]["errorMessage"]


# --- metrics -----------------------------------------------------------------------------------

def test_a_successful_import_counts_its_end_and_its_transfer(server, admin, files, lines):
    task_id, _ = start_import(admin, files, "imgok", CONTENT)
    assert wait_task(admin, task_id).status_code == 200
    ended = lines.wait_metric("Tasks", operation="import", outcome="succeeded")
    assert ended["task_id"] == task_id and ended["image_name"] == "imgok"
    moved = lines.wait_metric("BytesTransferred", step="import_file")
    assert moved["BytesTransferred"] == len(CONTENT) and moved["task_id"] == task_id
    units = {m["Name"]: m["Unit"] for m in moved["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["BytesTransferred"] == "Bytes"
    if "TransferRate" in moved:
        assert units["TransferRate"] == "Bytes/Second" and moved["TransferRate"] > 0


def test_a_cancel_counts_a_revoked_task(server, admin, files, lines):
    gate = Gate(CONTENT * 3)
    manifest = files.manifest(CONTENT * 3)
    url = files.publish(manifest)
    files.server.expect_request(_path(url) + "/file").respond_with_handler(gate.handler)
    task_id = admin.post("/image/imgcancel", {"manifest_url": url, "dc": "main"}).json()[
        "task_id"]
    try:
        assert gate.started.wait(20)
        r = admin.put(f"/task/{task_id}/cancel")
        assert r.status_code == 410, r.text
    finally:
        gate.release.set()
    ended = lines.wait_metric("Tasks", operation="import", outcome="revoked")
    assert ended["Tasks"] == 1


def test_a_refused_key_is_an_authentication_failure(clean, lines):
    from tests.support import Api
    r = Api(clean.api_url, "not-a-key").get("/image")
    assert r.status_code == 403 or r.status_code == 401, r.text
    line = lines.wait_metric("AuthenticationFailures", credential="api_key")
    assert dimensions_of(line) == ["credential"] and line["AuthenticationFailures"] == 1
    assert "not-a-key" not in lines.text


def test_the_scheduled_cleanup_reports_tasks_past_their_deadline(server, admin, files, lines):
    from app import app
    from chalicelib.persistence.models import Image
    from chalicelib.services.tasks import lifecycle
    task_id, _ = start_import(admin, files, "imgold", CONTENT)
    wait_task(admin, task_id)
    late = lifecycle.new_task(task_id="eu-late", operation="import", image=Image.get("imgold"),
                              creator="admin", dc="main", request={}, view={})
    late.created = datetime.now(UTC) - timedelta(days=2)
    late.deadline = datetime.now(UTC) - timedelta(days=1)
    late.save()
    event = {"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2024-01-01T00:00:00Z", "region": "us-east-1",
             "resources": [], "detail": {}}
    context = SimpleNamespace(aws_request_id="cleanup-run")
    app.handler_map["on_cleanup"](event, context)
    line = lines.wait_metric("TasksPastDeadline")
    assert line["TasksPastDeadline"] == 1 and dimensions_of(line) == []
    assert line["request_id"] == "cleanup-run"
    # the next run finds nothing late any more (the reconciler ended it): 0, still reported
    app.handler_map["on_cleanup"](event, context)
    assert [m["TasksPastDeadline"] for m in lines.metrics("TasksPastDeadline")] == [1, 0]


def test_a_step_run_that_is_a_retry_is_counted(clean, lines):
    """The state machines pass `$$.State.RetryCount` as `retry_count` (0 on a first run)."""
    from types import SimpleNamespace as Context

    from chalicelib.steps import handlers

    def import_file(event):
        return {"done": True, "size": 1000, "seconds": 0.5, "runs": 1}

    run = Context(aws_request_id="invocation-1")
    handlers._run(import_file, {"task_id": "eu-00000000-0000-4000-8000-000000000000",
                                "retry_count": 0}, run)
    assert lines.metrics("StepRetries") == []
    handlers._run(import_file, {"task_id": "eu-00000000-0000-4000-8000-000000000000",
                                "retry_count": 2}, run)
    [retry] = lines.metrics("StepRetries")
    assert retry["StepRetries"] == 1 and retry["step"] == "import_file"
    assert retry["task_id"] == "eu-00000000-0000-4000-8000-000000000000"
    assert retry["request_id"] == "invocation-1"
    moved = lines.metrics("BytesTransferred")
    assert [m["TransferRate"] for m in moved] == [2000.0, 2000.0]


def test_a_real_retry_and_the_start_are_counted(server, admin, files, lines):
    """Through the deployed state machine: a 500 from the repository makes Step Functions retry
    the import step, whose second run sees `$$.State.RetryCount` = 1."""
    from tests.integration.workflow_support import FlakyFile
    flaky = FlakyFile(CONTENT, failures=1)
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest)
    path = "/" + url.split("/", 3)[3] + "/file"
    files.server.expect_request(path).respond_with_handler(flaky.handler)
    r = admin.post("/image/imgretry", {"manifest_url": url, "dc": "main"})
    task_id = r.json()["task_id"]
    started = lines.wait_metric("Tasks", operation="import", outcome="started")
    assert started["image_name"] == "imgretry"  # the request that started it
    assert wait_task(admin, task_id).status_code == 200 and flaky.calls == 2
    retry = lines.wait_metric("StepRetries", step="import_file")
    assert retry["task_id"] == task_id
