"""Names of the deployment's resources, derived from one prefix (`IMAGE_API_TABLE_PREFIX`).

Imported by the app, the local stack, the deploy template and the operator CLI alike, so a
table, a state machine or a queue is called the same everywhere.
"""
from __future__ import annotations

import hashlib
import re

from chalicelib.domain.vocabulary import OPERATIONS

DEFAULT_PREFIX = "imageapi"
DEFAULT_DC = "main"          # the datacenter that always exists
UPLOAD_PREFIX = "uploads/"


def table_name(prefix: str, table: str) -> str:
    return f"{prefix}-{table}"


def state_machine_name(prefix: str, operation: str) -> str:
    return f"{prefix}-{operation}"


def state_machine_arn_variable(operation: str) -> str:
    """The environment variable naming the operation's state machine."""
    return f"STATE_MACHINE_{operation.upper()}_ARN"


STATE_MACHINE_ARN_VARIABLES = tuple(state_machine_arn_variable(op) for op in OPERATIONS)


def export_queue_prefix(prefix: str) -> str:
    """Every compute node has its own queue of export requests: this prefix + the node."""
    return f"{prefix}-export-"


def export_queue_name(queue_prefix: str, node: str) -> str:
    """SQS allows 80 characters of letters, digits, `-` and `_`. A node name that does not fit
    as it is (dots, length) gets a digest of itself appended, so two nodes never share a
    queue (`cn.1` and `cn_1` are different nodes)."""
    kept = re.sub(r"[^A-Za-z0-9_-]", "_", node)
    if kept == node and len(queue_prefix + node) <= 80:
        return queue_prefix + node
    digest = hashlib.sha256(node.encode()).hexdigest()[:10]
    return f"{queue_prefix}{kept[:80 - len(queue_prefix) - 11]}-{digest}"


def export_dead_letter_queue_name(prefix: str) -> str:
    """Outside the node queues' prefix (`<prefix>-export-`): no node name can land on it."""
    return f"{prefix}-exports-dlq"


PLATFORM_EVENT_HANDLER = "on_platform_event"
# A task that ended and has a callback announces it on the default bus; the callback is sent
# by that event's handler, never inside the API request or step that ended the task.
TASK_EVENT_SOURCE = "imageapi.tasks"
TASK_ENDED = "Task Ended"


def platform_event_bus_name(prefix: str) -> str:
    """The platform's events arrive on this bus only (its policy admits the platform's
    principals); the default bus, where any principal of the account may put, is not heard."""
    return f"{prefix}-platform"


def local_bucket_name(prefix: str) -> str:
    """The local stack's image store (AWS adds account and region: bucket names are global)."""
    return f"{prefix}-store"
