"""How a task that is still running must end, decided from what is known about it: the pure
rules behind the status-change event, the reconciler and a rollback past the point of no
return. The services only carry the decision out."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import task_texts
from chalicelib.domain.operations import rules
from chalicelib.domain.task_results import failure_reason
from chalicelib.domain.vocabulary import ABORTED, EXECUTION_RUNNING, FAILED, SUCCEEDED, TIMED_OUT

REVOKE, FAIL = "revoke", "fail"
STARTUP_GRACE = timedelta(minutes=2)   # an execution may take this long to appear


@dataclass(frozen=True)
class Ending:
    how: str                    # REVOKE or FAIL
    returncode: int = 0
    message: str = ""
    stop_execution: bool = False


def after_execution(status: str, recorded: dict[str, Any] | None, error: str | None,
                    cause: str | None) -> Ending | None:
    """The task of an execution that ended with `status` (None: nothing to do)."""
    if status == ABORTED:
        return Ending(REVOKE)
    if status == TIMED_OUT:
        return Ending(FAIL, *failure_reason(None, "States.Timeout", cause))
    if status == FAILED:
        return Ending(FAIL, *failure_reason(recorded, error, cause))
    if status == SUCCEEDED:
        # the Finish step commits before the execution succeeds; if it could not, undo
        return Ending(FAIL, task_texts.RC_INPUT, task_texts.NOT_COMMITTED)
    return None


def for_reconciler(*, created: datetime, deadline: datetime | None, now: datetime,
                   execution: dict[str, Any] | None,
                   recorded: dict[str, Any] | None) -> Ending | None:
    """A pending task the reconciler looks at: its execution is missing, ended, or late."""
    if execution is None:
        if now - created < STARTUP_GRACE:
            return None
        return Ending(FAIL, task_texts.RC_INPUT, task_texts.NEVER_STARTED)
    if execution["status"] != EXECUTION_RUNNING:
        return after_execution(execution["status"], recorded, execution.get("error"),
                               execution.get("cause"))
    if deadline is not None and now > deadline:
        return Ending(FAIL, task_texts.RC_HOST, task_texts.TIMED_OUT, stop_execution=True)
    return None


def completes_instead(operation: str, irrevocable: bool, revoked: bool,
                      objects_intact: bool | None) -> bool:
    """An operation whose irreversible step has started is completed, not undone: always when
    revoked (that step may be running right now), and after a failure when its store objects
    are no longer all there. `objects_intact` None (the store could not be asked after a
    failure) counts as intact: the failing step could not have deleted through it either."""
    if not (irrevocable and rules(operation).point_of_no_return):
        return False
    return revoked or objects_intact is False
