"""Emits EventBridge "Step Functions Execution Status Change" events, which moto does not.

The emulator tells us when an execution of one of the stack's state machines ends (see
`emulator_contract.on_execution_end`); a worker thread then puts the same event AWS would
(source aws.states) on the emulator's default bus, where the app's rule picks it up. Nothing
polls: an idle stack costs nothing here.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any

import boto3

from chalicelib.domain.vocabulary import EXECUTION_ENDED
from devstack import emulator_contract, faults

log = logging.getLogger("devstack.watcher")
_STOP = object()


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


class ExecutionWatcher:
    def __init__(self, machine_arns: list[str]) -> None:
        self.machine_arns = set(machine_arns)
        self._ended: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sfn-watcher")
        self._unsubscribe = lambda: None
        # it plays AWS's status-change events: never faulted (DEVSTACK_FAULTS)
        self.sfn = faults.exempt(boto3.client("stepfunctions"))
        self.events = faults.exempt(boto3.client("events"))

    def start(self) -> None:
        self._unsubscribe = emulator_contract.on_execution_end(self._heard)
        self._thread.start()

    def stop(self) -> None:
        self._unsubscribe()
        self._ended.put(_STOP)
        self._thread.join(timeout=5)

    def _heard(self, execution: Any) -> None:
        """Called by the emulator (possibly under its locks): only queue the ARN."""
        if getattr(execution, "state_machine_arn", None) in self.machine_arns:
            self._ended.put(execution.exec_arn)

    def _run(self) -> None:
        while True:
            arn = self._ended.get()
            if arn is _STOP:
                return
            try:
                self.publish(arn)
            except Exception:  # the emulator going away at shutdown, mostly
                log.debug("status event for %s failed", arn, exc_info=True)

    def publish(self, arn: str) -> None:
        execution = self.sfn.describe_execution(executionArn=arn)
        if execution["status"] in EXECUTION_ENDED:
            self.events.put_events(Entries=[status_event(execution)])
