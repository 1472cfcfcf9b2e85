"""The compute nodes' export queues (SQS), one per node: an agent receives only its own node's
requests, so agents never see, hold back or hand back each other's messages.

A node's queue is created the first time an export is sent to it (or by `./imagectl node add`,
which prints its URL for the agent's configuration); CreateQueue with the same attributes is
idempotent, so every send can ask for it.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters import aws
from chalicelib.config import settings
from chalicelib.domain import names

HOLD_SECONDS = "120"           # an agent renews its hold with every heartbeat
RETENTION_SECONDS = "86400"    # an export request nobody takes for a day is useless
MAX_RECEIVES = "5"             # then it goes to the dead-letter queue


def queue_name(node: str) -> str:
    return names.export_queue_name(settings().export_queue_prefix, node)


def ensure(node: str) -> str:
    """The node's queue URL, the queue created if it does not exist yet."""
    dead_letter_arn = settings().export_dead_letter_arn
    attributes = {"VisibilityTimeout": HOLD_SECONDS, "MessageRetentionPeriod": RETENTION_SECONDS,
                  "SqsManagedSseEnabled": "true"}
    if dead_letter_arn:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dead_letter_arn,
                                                  "maxReceiveCount": MAX_RECEIVES})
    answer = aws.client("sqs").create_queue(QueueName=queue_name(node), Attributes=attributes)
    return str(answer["QueueUrl"])


def send(node: str, message: dict[str, Any]) -> None:
    aws.client("sqs").send_message(QueueUrl=ensure(node), MessageBody=json.dumps(message))


def listed() -> list[str]:
    """The URLs of the nodes' export queues (for operators)."""
    pages = aws.client("sqs").get_paginator("list_queues").paginate(
        QueueNamePrefix=settings().export_queue_prefix)
    return sorted(url for page in pages for url in page.get("QueueUrls", []))
