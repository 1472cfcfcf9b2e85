"""Every message a task can end with, in the words of Danube Cloud's image-server tool (`esimg`)
where a step has an equivalent (SPEC §4.8), with esimg's return codes."""
from __future__ import annotations

from chalicelib.domain.redaction import redact

# esimg exit codes (those a step here can end with; esimg's 2 and 9 have no step here)
RC_INPUT, RC_HOST, RC_SOURCE, RC_URL = 1, 4, 5, 6
RC_IMAGE_DIR, RC_IMAGE_FILE, RC_SPACE = 7, 8, 10
RC_REVOKED = -15

VERBS = {"import": "imported", "snapshot": "created", "update": "updated", "delete": "deleted",
         "upload": "uploaded"}

# What the task log (Danube's audit log) says was done
LOG_IMPORT = "Import image"
LOG_CREATE = "Create image"
LOG_UPDATE = "Update image"
LOG_DELETE = "Delete image"
LOG_UPLOAD = "Upload image"
LOG_ATTACH = "Add server image to datacenter"

REVOKED = "ERROR: Task was revoked"
REVOKED_DETAIL = "The operation was canceled and rolled back."
TIMED_OUT = "ERROR: The operation did not finish in time"
NEVER_STARTED = "ERROR: The operation never started"
NOT_COMMITTED = "ERROR: The operation ended without committing"
IMAGE_DIR_MISSING = "ERROR: Target image directory does not exist"
EXPORT_NOT_UPLOADED = "ERROR: The exported snapshot was not uploaded"
EXPORT_EMPTY = "ERROR: The exported snapshot is empty"
UPLOAD_MISSING = "ERROR: The image file was not uploaded"
NODE_UNKNOWN = "ERROR: The compute node of the VM is not known"
NO_SPACE = "ERROR: Not enough free space on image server"
NO_RESUME = ("ERROR: Image source does not support resumable downloads (HTTP Range) and the "
             "file does not fit one transfer step")


def success(operation: str, name: str, size: int | None = None,
            seconds: float | None = None) -> str:
    text = f"Successfully {VERBS[operation]} image {name}"
    if size is not None and seconds is not None:
        text += f" (transferred {size} bytes in {seconds:.0f} seconds)"
    return text


def success_reused(name: str, size: int) -> str:
    return (f"Successfully imported image {name} (reused an identical file of {size} bytes "
            "already in the image store)")


def download_failed(reason: str) -> str:
    return f"ERROR: Could not download image file ({redact(reason).rstrip('.')})"


def checksum_mismatch(expected: str, actual: str) -> str:
    return f"ERROR: Image file checksum mismatch ({expected} != {actual})"


def size_mismatch(expected: int, actual: int) -> str:
    return f"ERROR: Image file size mismatch ({expected} != {actual})"


def larger_than_announced(size: object) -> str:
    return f"ERROR: Image file is larger than announced ({size} bytes)"


def store_unavailable(cause: str) -> str:
    return f"ERROR: Image store is not available ({cause})"


def not_started(cause: str) -> str:
    return f"ERROR: Could not start the image operation ({cause})"


def export_failed(reason: str | None) -> str:
    return f"ERROR: Snapshot export failed ({reason or 'no reason given'})"


def operation_failed(error: str | None) -> str:
    return f"ERROR: Image operation failed ({error or 'unknown error'})"


def failure_detail(returncode: int, message: str) -> str:
    return f"Got bad return code ({returncode}). Error: {message}"
