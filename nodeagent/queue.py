"""This node's export queue (SQS). The agent needs only ReceiveMessage, ChangeMessageVisibility
and DeleteMessage on it: each compute node has its own queue, so agents never see, hold back
or hand back each other's requests."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Request:
    body: dict[str, Any]
    receipt: str


class ExportQueue:
    def __init__(self, queue_url: str, region: str = "", endpoint_url: str = "") -> None:
        import boto3
        from botocore.config import Config
        self.url = queue_url
        self.sqs = boto3.client("sqs", region_name=region or _region_of(queue_url),
                                endpoint_url=endpoint_url or None,
                                config=Config(retries={"mode": "standard", "max_attempts": 8}))

    def receive(self, count: int, wait_seconds: int, hold_seconds: int) -> list[Request]:
        """Up to `count` requests (long poll), each hidden from other receivers for
        `hold_seconds`; a request that is not JSON is deleted as unusable."""
        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=count,
                                          WaitTimeSeconds=wait_seconds,
                                          VisibilityTimeout=hold_seconds)
        requests = []
        for message in answer.get("Messages", []):
            try:
                body = json.loads(message["Body"])
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.delete(message["ReceiptHandle"])
                continue
            requests.append(Request(body, message["ReceiptHandle"]))
        return requests

    def hold(self, receipt: str, seconds: int) -> None:
        """Keep a request hidden while its export runs (it may take hours)."""
        self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt,
                                           VisibilityTimeout=seconds)

    def release(self, receipt: str) -> None:
        """Hand a request back at once (the agent stops before it started the export)."""
        self.hold(receipt, 0)

    def delete(self, receipt: str) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)


def _region_of(queue_url: str) -> str | None:
    """`https://sqs.<region>.amazonaws.com/...` names its region; other URLs do not."""
    host = queue_url.split("/")[2] if "://" in queue_url else ""
    parts = host.split(".")
    return parts[1] if len(parts) > 3 and parts[0] == "sqs" else None
