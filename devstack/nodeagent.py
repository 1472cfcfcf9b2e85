"""A stand-in for the compute-node agent that exports VM snapshots (outside this project).

It reads export requests from the node-agent queue and uploads `zfs send | gzip`-like data —
here a gzip stream of deterministic bytes derived from the request — to the presigned URL.
Tests that need to control the agent (slow, silent, failing) leave this off and play it.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging

import boto3
import requests

from devstack.background import BackgroundLoop

log = logging.getLogger("devstack.nodeagent")


def export_bytes(request: dict, size: int) -> bytes:
    """Deterministic 'snapshot data' for a request, gzip-compressed."""
    seed = f"{request.get('zfs_filesystem')}@{request.get('snapshot')}".encode()
    block = hashlib.sha256(seed).digest() * 2048            # 64 KiB pattern
    raw = (block * (size // len(block) + 1))[:size]
    return gzip.compress(raw, compresslevel=6, mtime=0)


class NodeAgent(BackgroundLoop):
    interval = 0   # receive_message itself long-polls

    def __init__(self, queue_url: str, export_size: int = 1 << 20) -> None:
        super().__init__("node-agent")
        self.queue_url = queue_url
        self.export_size = export_size
        self.sqs = boto3.client("sqs")

    def tick(self) -> None:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, WaitTimeSeconds=20,
                                            MaxNumberOfMessages=1).get("Messages", [])
        for message in messages:
            self.handle(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.queue_url,
                                    ReceiptHandle=message["ReceiptHandle"])

    def handle(self, request: dict) -> None:
        data = export_bytes(request, self.export_size)
        response = requests.put(request["upload_url"], data=data, timeout=60)
        log.info("exported %s (%d bytes): HTTP %s", request.get("task_id"), len(data),
                 response.status_code)
