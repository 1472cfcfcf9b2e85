"""How a running task must end (chalicelib/domain/task_endings.py): the branches behind the
status-change event, the reconciler and a rollback past the point of no return, each tested
without a workflow having to reach it."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import task_endings as endings
from chalicelib.domain import task_texts as texts

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
STEP_ERROR = {"returncode": 8, "message": "ERROR: Image file checksum mismatch (a != b)"}


@pytest.mark.parametrize("status,recorded,error,expected", [
    ("ABORTED", STEP_ERROR, None, endings.Ending(endings.REVOKE)),
    ("FAILED", STEP_ERROR, "StepError", endings.Ending(endings.FAIL, 8, STEP_ERROR["message"])),
    ("FAILED", None, "States.Runtime",
     endings.Ending(endings.FAIL, 1, "ERROR: Image operation failed (States.Runtime)")),
    ("TIMED_OUT", STEP_ERROR, None, endings.Ending(endings.FAIL, 4, texts.TIMED_OUT)),
    ("SUCCEEDED", None, None, endings.Ending(endings.FAIL, 1, texts.NOT_COMMITTED)),
    ("RUNNING", None, None, None),
])
def test_after_an_execution_ended(status, recorded, error, expected):
    assert endings.after_execution(status, recorded, error, None) == expected


def reconcile(execution, *, age=timedelta(hours=1), deadline_in=timedelta(hours=5)):
    return endings.for_reconciler(created=NOW - age, deadline=NOW + deadline_in, now=NOW,
                                  execution=execution, recorded=None)


def test_an_execution_that_may_still_appear_is_left_alone():
    assert reconcile(None, age=timedelta(seconds=30)) is None


def test_an_execution_that_never_started():
    assert reconcile(None) == endings.Ending(endings.FAIL, 1, texts.NEVER_STARTED)


def test_an_execution_that_ended_without_ending_its_task():
    assert reconcile({"status": "ABORTED"}) == endings.Ending(endings.REVOKE)
    assert reconcile({"status": "FAILED", "error": "States.Runtime"}).returncode == 1


def test_a_running_execution_past_the_deadline_is_stopped_and_failed():
    assert reconcile({"status": "RUNNING"}) is None
    assert reconcile({"status": "RUNNING"}, deadline_in=-timedelta(seconds=1)) == \
        endings.Ending(endings.FAIL, 4, texts.TIMED_OUT, stop_execution=True)


@pytest.mark.parametrize("operation,irrevocable,revoked,intact,completes", [
    ("delete", True, True, True, True),      # its step may be deleting right now
    ("delete", True, False, False, True),    # objects already gone: finish the delete
    ("delete", True, False, True, False),    # nothing deleted: undo it
    ("delete", True, False, None, False),    # store unreachable: could not have deleted
    ("delete", False, True, False, False),   # the irreversible step never started
    ("update", True, True, False, False),    # no point of no return in an update
])
def test_what_completes_instead_of_rolling_back(operation, irrevocable, revoked, intact,
                                                completes):
    assert endings.completes_instead(operation, irrevocable, revoked, intact) is completes
