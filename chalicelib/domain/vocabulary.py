"""The service's words, defined once: image status and access, task status and state, the
image-server operations, VM and snapshot states. Everything else imports them from here."""
from __future__ import annotations

from enum import IntEnum

# --- images (SPEC §3) ---------------------------------------------------------------------------


class ImageStatus(IntEnum):
    OK = 1
    PENDING = 2          # the lock: an operation is running on the image


class Access(IntEnum):
    PUBLIC = 1
    DISABLED = 2         # platform images only
    PRIVATE = 3
    DELETED = 4
    INTERNAL = 9         # platform images only; never listed


ACCESS_CHOICES = (Access.PUBLIC, Access.PRIVATE, Access.DELETED)  # what clients may set

# --- tasks (SPEC §4.8) --------------------------------------------------------------------------

PENDING, SUCCESS, FAILURE, REVOKED = "PENDING", "SUCCESS", "FAILURE", "REVOKED"
TASK_STATUSES = (PENDING, SUCCESS, FAILURE, REVOKED)
HTTP_STATUS_OF_TASK = {PENDING: 201, SUCCESS: 200, FAILURE: 400, REVOKED: 410}

# A task's own life, each step a conditional write: whoever ends it first wins.
RUNNING, ROLLING_BACK, DONE = "running", "rolling_back", "done"
# a task's progress step before any step reported one, and after a success that had none
QUEUED_STEP, DONE_STEP = "queued", "done"

# --- image-server operations (SPEC §5), one state machine each ---------------------------------

IMPORT, UPDATE, DELETE, SNAPSHOT = "import", "update", "delete", "snapshot"
UPLOAD = "upload"        # an image whose file the caller puts into the store (SPEC §4.13)
OPERATIONS = (IMPORT, UPDATE, DELETE, SNAPSHOT, UPLOAD)

# Step Functions execution statuses (DescribeExecution, status-change events)
EXECUTION_RUNNING = "RUNNING"
SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"
EXECUTION_ENDED = (SUCCEEDED, FAILED, TIMED_OUT, ABORTED)

# --- the platform's read models (SPEC §8) -------------------------------------------------------

VM_OPERATIONAL = frozenset(("running", "stopped", "stopping", "frozen"))
SNAPSHOT_OK, SNAPSHOT_PENDING = "ok", "pending"
SNAPSHOT_STATUSES = {1: SNAPSHOT_OK, 2: SNAPSHOT_PENDING, 3: "rollback", 4: "lost"}
