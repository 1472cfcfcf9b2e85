"""Emits EventBridge "Step Functions Execution Status Change" events, which moto does not.

Polls the executions of the stack's state machines and, when one ends, puts the same event
AWS would (source aws.states) on the emulator's default bus, where the app's rule picks it up.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import boto3

from devstack.background import BackgroundLoop

log = logging.getLogger("devstack.watcher")
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def status_event(execution: dict[str, Any]) -> dict[str, Any]:
    detail = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution["name"], "status": execution["status"],
        "startDate": int(execution["startDate"].timestamp() * 1000),
        "stopDate": int(execution["stopDate"].timestamp() * 1000)
        if execution.get("stopDate") else None,
        "input": execution.get("input"), "output": execution.get("output"),
        "error": execution.get("error"), "cause": execution.get("cause"),
    }
    return {"Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
            "Resources": [execution["executionArn"]], "Detail": json.dumps(detail)}


class ExecutionWatcher(BackgroundLoop):
    def __init__(self, machine_arns: list[str], interval: float = 0.25) -> None:
        super().__init__("sfn-watcher")
        self.machine_arns = machine_arns
        self.interval = interval
        self.sfn = boto3.client("stepfunctions")
        self.events = boto3.client("events")
        self.reported: set[str] = set()

    def tick(self) -> None:
        self.poll()

    def poll(self) -> None:
        for machine in self.machine_arns:
            pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
            for page in pages:
                for summary in page["executions"]:
                    arn = summary["executionArn"]
                    if summary["status"] in ENDED and arn not in self.reported:
                        self.reported.add(arn)
                        execution = self.sfn.describe_execution(executionArn=arn)
                        self.events.put_events(Entries=[status_event(execution)])
