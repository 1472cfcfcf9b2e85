"""Task outcomes in the words of Danube Cloud's image-server tool (`esimg`).

Step errors carry esimg's return code and message; the task status endpoint renders them the
way Danube Cloud clients parse them (SPEC §4.8).
"""
from __future__ import annotations

from typing import Any

PENDING, SUCCESS, FAILURE, REVOKED = "PENDING", "SUCCESS", "FAILURE", "REVOKED"
HTTP_STATUS = {PENDING: 201, SUCCESS: 200, FAILURE: 400, REVOKED: 410}

# esimg exit codes
RC_INPUT, RC_MANIFEST, RC_HOST, RC_SOURCE, RC_URL = 1, 2, 4, 5, 6
RC_IMAGE_DIR, RC_IMAGE_FILE, RC_MANIFEST_WRITE, RC_SPACE = 7, 8, 9, 10
RC_REVOKED = -15

VERBS = {"import": "imported", "snapshot": "created", "update": "updated", "delete": "deleted"}


class StepError(Exception):
    """A step failed for good: the workflow's Catch rolls the operation back."""

    def __init__(self, returncode: int, message: str) -> None:
        self.returncode = returncode
        self.message = message if message.startswith("ERROR:") else f"ERROR: {message}"
        super().__init__(self.message)


class TransientError(StepError):
    """Worth retrying (the state machines' Retry matches this class name)."""


def download_failed(reason: str) -> str:
    return f"ERROR: Could not download image file ({reason})"


def checksum_mismatch(expected: str, actual: str) -> str:
    return f"ERROR: Image file checksum mismatch ({expected} != {actual})"


def size_mismatch(expected: int, actual: int) -> str:
    return f"ERROR: Image file size mismatch ({expected} != {actual})"


def success_message(operation: str, name: str, size: int | None = None,
                    seconds: float | None = None) -> str:
    text = f"Successfully {VERBS[operation]} image {name}"
    if size is not None and seconds is not None:
        text += f" (transferred {size} bytes in {seconds:.0f} seconds)"
    return text


def success_result(message: str) -> dict[str, Any]:
    return {"returncode": 0, "message": message}


def failure_result(returncode: int, message: str) -> dict[str, Any]:
    return {"returncode": returncode, "message": message,
            "detail": f"Got bad return code ({returncode}). Error: {message}"}


def revoked_result() -> dict[str, Any]:
    return {"returncode": RC_REVOKED, "message": "ERROR: Task was revoked",
            "detail": "The operation was canceled and rolled back."}


def failure_from_execution(error: str | None, cause: str | None) -> tuple[int, str]:
    """Return code and message when the workflow failed outside a step's own error record."""
    if error in ("States.Timeout", "States.HeartbeatTimeout"):
        return RC_HOST, "ERROR: The operation did not finish in time"
    if error == "ExportFailed":
        return RC_SOURCE, f"ERROR: Snapshot export failed ({cause or 'no reason given'})"
    return RC_INPUT, f"ERROR: Image operation failed ({error or 'unknown error'})"
