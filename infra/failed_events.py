"""Where an event ends that a function EventBridge invokes failed on every retry.

EventBridge invokes its functions asynchronously: Lambda retries a failing event twice, then
drops it. Here it goes to a dead-letter queue instead (kept 14 days, with an alarm), so a
platform event that failed every retry can be read and sent again (README "Deployment").
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

QUEUE = "FailedEventQueue"
SEND_POLICY = "FailedEventQueueSendPolicy"
# how EventBridge (rules and schedules) appears among a SAM function's events
ASYNC_EVENT_TYPES = {"CloudWatchEvent", "EventBridgeRule", "Schedule", "ScheduleV2"}


def failed_event_queue_name(prefix: str) -> str:
    return f"{prefix}-events-dlq"


def invoked_by_eventbridge(generated: dict[str, Any], functions: list[str]) -> list[str]:
    return [function for function in functions
            if any(event.get("Type") in ASYNC_EVENT_TYPES
                   for event in generated[function]["Properties"].get("Events", {}).values())]


def failed_events(prefix: str, generated: dict[str, Any], functions: list[str],
                  alarm: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The queue, the right to send to it (on the roles, so Lambda sees it when it creates the
    function), each asynchronously invoked function's DeadLetterQueue, and an alarm."""
    queue_arn = {"Fn::GetAtt": [QUEUE, "Arn"]}
    out: dict[str, Any] = {
        # like the export dead-letter queue: transient, goes with the stack
        QUEUE: {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Delete", "Properties": {
            "QueueName": failed_event_queue_name(prefix), "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 14 * 24 * 3600}},
        SEND_POLICY: {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "Description": "Send an event that failed every retry to the failed-event queue",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}]}}},
        f"{QUEUE}Alarm": alarm(
            f"{prefix}: events a function failed on every retry (the failed-event queue is not "
            "empty)", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [QUEUE, "QueueName"]}}], "Maximum"),
    }
    for function in invoked_by_eventbridge(generated, functions):
        role = generated[function]["Properties"]["Role"]["Fn::GetAtt"][0]
        out[function] = {"Properties": {"DeadLetterQueue": {"Type": "SQS",
                                                             "TargetArn": queue_arn}}}
        out[role] = {"Properties": {"ManagedPolicyArns": [{"Ref": SEND_POLICY}]}}
    return out
