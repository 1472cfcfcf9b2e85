"""AWS's service limits the local stack enforces, each number in one place with its source.

The values are AWS's documented quotas (README "AWS's limits"); the local stack's modules that
enforce them (`devstack/gateway_limits.py`, `devstack/service_limits.py`,
`devstack/eventbus.py`) import them from here. Lambda's documentation uses MB for 1,024 KB.
"""
from __future__ import annotations

import os

KIB = 1024
MIB = 1024 * KIB

# Lambda: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html and
# https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * MIB        # request and response of a synchronous invoke
LAMBDA_ASYNC_PAYLOAD_BYTES = 1 * MIB       # an asynchronous invoke's event (256 KB until 2025)

# API Gateway REST APIs:
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html
API_GATEWAY_PAYLOAD_BYTES = 10 * MIB       # request body
API_GATEWAY_HEADER_BYTES = 10240           # all header values together (not enforced here)
API_GATEWAY_TIMEOUT_SECONDS = 29.0         # integration timeout, the default maximum

# Step Functions: https://docs.aws.amazon.com/step-functions/latest/dg/limits.html (moto's
# interpreter enforces the state size itself: moto/stepfunctions/parser/quotas.py)
STATE_PAYLOAD_BYTES = 256 * KIB            # a state's or task's input or output
EXECUTION_HISTORY_EVENTS = 25000           # not enforced here (see the README)

# EventBridge PutEvents: the entries of one request together (1 MB since January 2026,
# https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb;
# how an entry is measured:
# https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html)
EVENTBRIDGE_ENTRIES_BYTES = 1 * MIB
EVENTBRIDGE_TIME_BYTES = 14                # a given Time counts as 14 bytes

# SQS (moto enforces it: moto/sqs/constants.py)
SQS_MESSAGE_BYTES = 1 * MIB

# DynamoDB: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html,
# .../APIReference/API_TransactWriteItems.html, API_BatchWriteItem.html, API_BatchGetItem.html
DYNAMODB_ITEM_BYTES = 400 * KIB
DYNAMODB_TRANSACTION_ITEMS = 100           # moto enforces the count
DYNAMODB_TRANSACTION_BYTES = 4 * MIB
DYNAMODB_BATCH_WRITE_ITEMS = 25
DYNAMODB_BATCH_WRITE_BYTES = 16 * MIB
DYNAMODB_BATCH_GET_ITEMS = 100             # moto enforces it

# S3 multipart uploads: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
S3_PART_MIN_BYTES = 5 * MIB                # every part but the last (moto checks at completion)
S3_PART_MAX_BYTES = 5 * 1024 * MIB
S3_MAX_PARTS = 10000


def integration_timeout_seconds() -> float:
    """API Gateway's integration timeout; `DEVSTACK_INTEGRATION_TIMEOUT_SECONDS` shortens it
    for a test (read per request, so a test may change it while the stack runs)."""
    raw = os.environ.get("DEVSTACK_INTEGRATION_TIMEOUT_SECONDS", "")
    try:
        value = float(raw) if raw.strip() else API_GATEWAY_TIMEOUT_SECONDS
    except ValueError:
        return API_GATEWAY_TIMEOUT_SECONDS
    return value if value > 0 else API_GATEWAY_TIMEOUT_SECONDS


def enforced() -> bool:
    """`DEVSTACK_AWS_LIMITS=off` leaves the emulator and the gateway as lax as before (to show
    that the limit tests fail without the enforcement)."""
    return os.environ.get("DEVSTACK_AWS_LIMITS", "on").strip().lower() not in (
        "off", "0", "false", "no")
