"""Task outcomes in the words of Danube Cloud's image-server tool (`esimg`).

Step errors carry esimg's return code and message; the task status endpoint renders them the
way Danube Cloud clients parse them (SPEC §4.8). `failure_reason` is the one rule for what a
failed task says, whoever ends it (the workflow's Catch, the status event, the reconciler).
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.domain import task_texts as texts

EXPORT_FAILED = "ExportFailed"       # the error a node agent reports an export failure with
_TIMEOUTS = ("States.Timeout", "States.HeartbeatTimeout")


class StepError(Exception):
    """A step failed for good: the workflow's Catch rolls the operation back."""

    def __init__(self, returncode: int, message: str) -> None:
        self.returncode = returncode
        self.message = message if message.startswith("ERROR:") else f"ERROR: {message}"
        super().__init__(self.message)


class TransientError(StepError):
    """Worth retrying (the state machines' Retry matches this class name)."""


def download_error(reason: str) -> StepError:
    """A source that answered 4xx (but 429) fails the import; 5xx, 429, resets and timeouts
    are worth a retry."""
    status = _status_code(reason)
    if status is not None and status < 500 and status != 429:
        return StepError(texts.RC_URL, texts.download_failed(reason))
    return TransientError(texts.RC_URL, texts.download_failed(reason))


def _status_code(reason: str) -> int | None:
    """The HTTP status a source error's reason starts with (`404 Client Error: ...`)."""
    head = reason.split(" ", 1)[0]
    return int(head) if head.isdigit() and len(head) == 3 else None


def success_result(message: str) -> dict[str, Any]:
    return {"returncode": 0, "message": message}


def failure_result(returncode: int, message: str) -> dict[str, Any]:
    return {"returncode": returncode, "message": message,
            "detail": texts.failure_detail(returncode, message)}


def revoked_result() -> dict[str, Any]:
    return {"returncode": texts.RC_REVOKED, "message": texts.REVOKED,
            "detail": texts.REVOKED_DETAIL}


def failure_reason(recorded: dict[str, Any] | None, error: str | None,
                   cause: str | None) -> tuple[int, str]:
    """Return code and message of a failed operation.

    `recorded` is what a step recorded when it failed with its own esimg error; `error` and
    `cause` are the workflow's (a Catch's error output, or the failed execution's). A workflow
    timeout or a reported export failure names itself; otherwise the step's own record wins;
    without one, the workflow's error is named.
    """
    if error in _TIMEOUTS:
        return texts.RC_HOST, texts.TIMED_OUT
    if error == EXPORT_FAILED:
        if recorded:  # what the agent reported, as the API recorded it
            return int(recorded["returncode"]), str(recorded["message"])
        return texts.RC_SOURCE, texts.export_failed(cause_text(cause))
    if recorded and not (error or "").startswith("States."):
        return int(recorded["returncode"]), str(recorded["message"])
    return texts.RC_INPUT, texts.operation_failed(error)


def cause_text(cause: Any) -> str | None:
    """The readable part of a Step Functions `Cause` (a Lambda error's JSON, or plain text)."""
    if not cause:
        return None
    try:
        data = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)
    if isinstance(data, dict):
        return str(data.get("errorMessage") or data)
    return str(data)
