"""esimg-style task results (SPEC §4.8) and how step errors are classified."""
from __future__ import annotations

import pytest

from chalicelib.domain import task_results as tr
from chalicelib.services.steps import _download_error, _status_code


def test_http_status_of_each_task_state():
    assert tr.HTTP_STATUS == {"PENDING": 201, "SUCCESS": 200, "FAILURE": 400, "REVOKED": 410}


@pytest.mark.parametrize("operation,size,seconds,text", [
    ("import", 10, 2.4, "Successfully imported image foo (transferred 10 bytes in 2 seconds)"),
    ("snapshot", 5, 0.2, "Successfully created image foo (transferred 5 bytes in 0 seconds)"),
    ("update", None, None, "Successfully updated image foo"),
    ("delete", None, None, "Successfully deleted image foo"),
])
def test_success_messages(operation, size, seconds, text):
    assert tr.success_message(operation, "foo", size, seconds) == text


def test_failure_result_shape():
    assert tr.failure_result(8, "ERROR: x") == {
        "returncode": 8, "message": "ERROR: x",
        "detail": "Got bad return code (8). Error: ERROR: x"}


def test_step_errors_carry_esimg_prefix():
    assert tr.StepError(6, "boom").message == "ERROR: boom"
    assert tr.StepError(6, "ERROR: boom").message == "ERROR: boom"
    assert issubclass(tr.TransientError, tr.StepError)


def test_texts():
    assert tr.download_failed("404 Client Error: NOT FOUND") == \
        "ERROR: Could not download image file (404 Client Error: NOT FOUND)"
    assert tr.checksum_mismatch("a", "b") == "ERROR: Image file checksum mismatch (a != b)"
    assert tr.size_mismatch(1, 2) == "ERROR: Image file size mismatch (1 != 2)"


@pytest.mark.parametrize("error,cause,rc,prefix", [
    ("States.Timeout", None, 4, "ERROR: The operation did not finish in time"),
    ("States.HeartbeatTimeout", None, 4, "ERROR: The operation did not finish in time"),
    ("ExportFailed", "zfs busy", 5, "ERROR: Snapshot export failed (zfs busy)"),
    ("ExportFailed", None, 5, "ERROR: Snapshot export failed (no reason given)"),
    ("States.Runtime", None, 1, "ERROR: Image operation failed (States.Runtime)"),
    (None, None, 1, "ERROR: Image operation failed (unknown error)"),
])
def test_failure_from_execution(error, cause, rc, prefix):
    assert tr.failure_from_execution(error, cause) == (rc, prefix)


@pytest.mark.parametrize("reason,code", [("404 Client Error: NOT FOUND", 404),
                                         ("503 Server Error: BUSY", 503),
                                         ("Read timed out", None), ("1234 odd", None)])
def test_status_code_of_a_reason(reason, code):
    assert _status_code(reason) == code


@pytest.mark.parametrize("reason,transient", [
    ("404 Client Error: NOT FOUND", False), ("403 Client Error: FORBIDDEN", False),
    ("429 Client Error: TOO MANY", True), ("500 Server Error: X", True),
    ("Read timed out", True), ("Connection broken", True),
])
def test_which_download_errors_are_retried(reason, transient):
    class Failure(Exception):
        pass
    exc = Failure()
    exc.reason = reason
    error = _download_error(exc)
    assert isinstance(error, tr.TransientError) is transient
    assert error.returncode == 6 and error.message == tr.download_failed(reason)
