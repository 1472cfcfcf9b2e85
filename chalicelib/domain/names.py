"""Names of the deployment's resources, derived from one prefix (`IMAGE_API_TABLE_PREFIX`).

Imported by the app, the local stack, the deploy template and the operator CLI alike, so a
table, a state machine or a queue is called the same everywhere.
"""
from __future__ import annotations

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


def node_agent_queue_name(prefix: str) -> str:
    return f"{prefix}-node-agent"


def local_bucket_name(prefix: str) -> str:
    """The local stack's image store (AWS adds account and region: bucket names are global)."""
    return f"{prefix}-store"
