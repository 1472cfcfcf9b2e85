"""esimg-style task results (SPEC §4.8), how step errors are classified, and the one rule
for what a failed task says."""
from __future__ import annotations

import json

import pytest

from chalicelib.domain import task_results as tr
from chalicelib.domain import task_texts as texts
from chalicelib.domain.vocabulary import HTTP_STATUS_OF_TASK


def test_http_status_of_each_task_state():
    assert HTTP_STATUS_OF_TASK == {"PENDING": 201, "SUCCESS": 200, "FAILURE": 400,
                                   "REVOKED": 410}


@pytest.mark.parametrize("operation,size,seconds,text", [
    ("import", 10, 2.4, "Successfully imported image foo (transferred 10 bytes in 2 seconds)"),
    ("snapshot", 5, 0.2, "Successfully created image foo (transferred 5 bytes in 0 seconds)"),
    ("update", None, None, "Successfully updated image foo"),
    ("delete", None, None, "Successfully deleted image foo"),
])
def test_success_messages(operation, size, seconds, text):
    assert texts.success(operation, "foo", size, seconds) == text


def test_failure_result_shape():
    assert tr.failure_result(8, "ERROR: x") == {
        "returncode": 8, "message": "ERROR: x",
        "detail": "Got bad return code (8). Error: ERROR: x"}


def test_step_errors_carry_esimg_prefix():
    assert tr.StepError(6, "boom").message == "ERROR: boom"
    assert tr.StepError(6, "ERROR: boom").message == "ERROR: boom"
    assert issubclass(tr.TransientError, tr.StepError)


def test_texts():
    assert texts.download_failed("404 Client Error: NOT FOUND") == \
        "ERROR: Could not download image file (404 Client Error: NOT FOUND)"
    assert texts.checksum_mismatch("a", "b") == "ERROR: Image file checksum mismatch (a != b)"
    assert texts.size_mismatch(1, 2) == "ERROR: Image file size mismatch (1 != 2)"


def test_a_reason_ending_in_a_full_stop_is_not_doubled():
    assert texts.download_failed("Exceeded 5 redirects.") == \
        "ERROR: Could not download image file (Exceeded 5 redirects)"


RECORDED = {"returncode": 8, "message": "ERROR: Image file checksum mismatch (a != b)"}


@pytest.mark.parametrize("recorded,error,cause,expected", [
    (None, "States.Timeout", None, (4, "ERROR: The operation did not finish in time")),
    (RECORDED, "States.HeartbeatTimeout", None, (4, "ERROR: The operation did not finish in time")),
    (None, "ExportFailed", "zfs busy", (5, "ERROR: Snapshot export failed (zfs busy)")),
    # The API records what the node agent reported; that message wins over the bare error.
    (RECORDED, "ExportFailed", None, (8, RECORDED["message"])),
    (None, "ExportFailed", None, (5, "ERROR: Snapshot export failed (no reason given)")),
    (None, "ExportFailed", json.dumps({"errorMessage": "exit 1"}),
     (5, "ERROR: Snapshot export failed (exit 1)")),
    (RECORDED, "StepError", "...", (8, RECORDED["message"])),
    (RECORDED, "States.Runtime", None, (1, "ERROR: Image operation failed (States.Runtime)")),
    (None, "Unhandled", None, (1, "ERROR: Image operation failed (Unhandled)")),
    (None, None, None, (1, "ERROR: Image operation failed (unknown error)")),
])
def test_failure_reason(recorded, error, cause, expected):
    assert tr.failure_reason(recorded, error, cause) == expected


@pytest.mark.parametrize("reason,transient", [
    ("404 Client Error: NOT FOUND", False), ("403 Client Error: FORBIDDEN", False),
    ("429 Client Error: TOO MANY", True), ("500 Server Error: X", True),
    ("Read timed out", True), ("Connection broken", True), ("1234 odd", True),
])
def test_which_download_errors_are_retried(reason, transient):
    error = tr.download_error(reason)
    assert isinstance(error, tr.TransientError) is transient
    assert error.returncode == 6 and error.message == texts.download_failed(reason)
