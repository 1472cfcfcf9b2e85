"""EventBridge delivery for the local stack: rule -> SQS queue -> the app's handler.

moto matches rules against events but cannot run Lambda targets, so every `on_cw_event`
handler of the app gets a rule with the *same pattern* the deployment uses, targeting a
queue; a pump thread feeds that queue's messages to the handler, like Lambda's event
delivery would. A message whose handler keeps failing is dropped after a few attempts
(the deployment's retry policy and DLQ play that role in AWS).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any

import boto3
from chalice.app import CloudWatchEventConfig, ScheduledEventConfig
from chalice.local import LambdaContext

from chalicelib.domain import names
from devstack import faults
from devstack.emulator import ACCOUNT, REGION
from devstack.iam.acting import acting_as
from devstack.iam.policies import function_name

log = logging.getLogger("devstack.eventbus")
MAX_RECEIVES = 5
LONG_POLL_SECONDS = 20  # SQS's maximum: an idle pump costs one request per 20 s


class EventBus:
    def __init__(self, app: Any, prefix: str, schedule_seconds: float = 0) -> None:
        self.app = app
        self.prefix = prefix
        # AWS's own delivery machinery: never faulted (DEVSTACK_FAULTS); the handlers are
        self.events = faults.exempt(boto3.client("events"))
        self.sqs = faults.exempt(boto3.client("sqs"))
        self.queues: dict[str, str] = {}     # handler name -> queue url
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.schedules: list[str] = []
        self.schedule_seconds = schedule_seconds

    def install(self) -> None:
        for source in self.app.event_sources:
            if isinstance(source, CloudWatchEventConfig):
                self._route(source.name, source.event_pattern)
            elif isinstance(source, ScheduledEventConfig) and self.schedule_seconds:
                self.schedules.append(source.name)

    def _route(self, handler: str, pattern: dict[str, Any]) -> None:
        queue = self.sqs.create_queue(QueueName=f"{self.prefix}-{handler}",
                                      Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        rule = f"{self.prefix}-{handler}"
        bus = self._bus_of(handler)
        self.events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED",
                             EventBusName=bus)
        self.events.put_targets(Rule=rule, EventBusName=bus,
                                Targets=[{"Id": "handler", "Arn": arn}])
        self.queues[handler] = queue

    def _bus_of(self, handler: str) -> str:
        """Platform events have their own bus, as in the deployment; the rest: the default."""
        if handler != names.PLATFORM_EVENT_HANDLER:
            return "default"
        bus = names.platform_event_bus_name(self.prefix)
        try:
            self.events.create_event_bus(Name=bus)
        except self.events.exceptions.ResourceAlreadyExistsException:
            pass  # restored from an earlier run
        return bus

    def start(self) -> None:
        for handler, queue in self.queues.items():
            thread = threading.Thread(target=self._pump, args=(handler, queue), daemon=True,
                                      name=f"eventbus-{handler}")
            thread.start()
            self._threads.append(thread)
        for handler in self.schedules:
            thread = threading.Thread(target=self._tick, args=(handler,), daemon=True,
                                      name=f"schedule-{handler}")
            thread.start()
            self._threads.append(thread)

    def _tick(self, handler: str) -> None:
        """Scheduled handlers get the same "Scheduled Event" EventBridge sends."""
        while not self._stop.wait(self.schedule_seconds):
            event = {"id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": ACCOUNT, "time": "", "region": REGION,
                     "resources": [], "detail": {}, "version": "0"}
            try:
                with acting_as(function_name(handler)):
                    self.app.handler_map[handler](event, LambdaContext(handler, 256))
            except Exception:
                log.exception("scheduled handler %s failed", handler)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:  # a pump in a long poll ends when the emulator stops
            thread.join(timeout=0.2)

    def _pump(self, handler: str, queue: str) -> None:
        while not self._stop.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=LONG_POLL_SECONDS,
                    AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
            except Exception:  # emulator shutting down
                if self._stop.wait(0.5):
                    return
                continue
            for message in messages:
                if self._stop.is_set():
                    return
                self._deliver(handler, queue, message)

    def _deliver(self, handler: str, queue: str, message: dict[str, Any]) -> None:
        try:
            event = _complete_envelope(json.loads(message["Body"]))
            with acting_as(function_name(handler)):
                self.app.handler_map[handler](event, LambdaContext(handler, 256))
        except Exception:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            log.exception("handler %s failed (attempt %s)", handler, receives)
            if receives < MAX_RECEIVES:
                return  # becomes visible again and is retried
        self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def _complete_envelope(event: dict[str, Any]) -> dict[str, Any]:
    """moto's SQS target leaves out some envelope keys that EventBridge always sends."""
    event.setdefault("account", ACCOUNT)
    event.setdefault("region", REGION)
    event.setdefault("resources", [])
    event.setdefault("version", "0")
    return event
