"""Starting, stopping and describing the Step Functions executions of image operations."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters import aws
from chalicelib.config import settings


def state_machine_arn(operation: str) -> str:
    return settings().state_machine_arns.get(operation, "")


def execution_arn(operation: str, task_id: str) -> str:
    """Execution ARNs are deterministic: the execution's name is the task id."""
    machine = state_machine_arn(operation)
    return machine.replace(":stateMachine:", ":execution:", 1) + ":" + task_id


def start(operation: str, task_id: str, payload: dict[str, Any]) -> str:
    """Idempotent for a retried request: the same name and input return the same execution."""
    response = aws.client("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn(operation), name=task_id,
        input=json.dumps({"task_id": task_id, "operation": operation, **payload},
                         sort_keys=True))
    return str(response["executionArn"])


def stop(arn: str, cause: str) -> None:
    from botocore.exceptions import ClientError
    try:
        aws.client("stepfunctions").stop_execution(executionArn=arn, error="Canceled", cause=cause)
    except ClientError as exc:
        if aws.error_code(exc) != "ExecutionDoesNotExist":
            raise


def describe(arn: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError
    try:
        execution: dict[str, Any] = aws.client("stepfunctions").describe_execution(
            executionArn=arn)
        return execution
    except ClientError as exc:
        if aws.error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise


def send_task_success(token: str, output: dict[str, Any]) -> bool:
    """False when the token is no longer valid (the wait ended already)."""
    return _to_waiting_task("send_task_success", taskToken=token, output=json.dumps(output))


def send_task_heartbeat(token: str) -> bool:
    """False when the wait is over (it timed out, or the execution ended)."""
    return _to_waiting_task("send_task_heartbeat", taskToken=token)


def send_task_failure(token: str, error: str, cause: str) -> bool:
    return _to_waiting_task("send_task_failure", taskToken=token, error=error, cause=cause)


_WAIT_OVER = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


def _to_waiting_task(action: str, **arguments: str) -> bool:
    from botocore.exceptions import ClientError
    try:
        getattr(aws.client("stepfunctions"), action)(**arguments)
        return True
    except ClientError as exc:
        if aws.error_code(exc) in _WAIT_OVER:
            return False
        raise
