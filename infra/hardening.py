"""What the deployed stack adds for operations and recovery (issue 18, item 10): log groups
with retention, Step Functions error logs, X-Ray tracing, the API's access log, a dead-letter
queue for events that failed every retry, and a versioned image store. Each piece lives in its
own module; this one applies them to the merge template (infra/template.py)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra import failed_events, log_groups, store_versions, tracing
from infra.patching import add

API = "RestAPI"
BUCKET = "ImageStoreBucket"
MACHINE_ROLE = "StateMachineRole"


def parameters() -> dict[str, Any]:
    return {**log_groups.parameters(), **tracing.parameters(), **store_versions.parameters()}


CONDITIONS = tracing.CONDITIONS


def harden(prefix: str, resources: dict[str, Any], generated: dict[str, Any],
           functions: list[str], machines: dict[str, str],
           alarm: Callable[..., dict[str, Any]]) -> None:
    """Add to `resources` (the merge template's) in place. `machines`: {logical ID:
    operation}; `alarm` makes a CloudWatch alarm as the template's others are made."""
    roles = [generated[function]["Properties"]["Role"]["Fn::GetAtt"][0] for function in functions]
    add(resources, log_groups.function_log_groups(prefix, functions))
    add(resources, log_groups.state_machine_logging(prefix, machines, MACHINE_ROLE))
    add(resources, log_groups.api_access_log(prefix, API))
    add(resources, tracing.tracing(functions, [*roles, MACHINE_ROLE], list(machines), API))
    add(resources, failed_events.failed_events(prefix, generated, functions, alarm))
    add(resources, store_versions.store_versions(BUCKET))


OUTPUTS = {"FailedEventQueueUrl": {"Value": {"Ref": failed_events.QUEUE}}}
