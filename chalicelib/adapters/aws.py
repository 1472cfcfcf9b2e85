"""AWS access shared by every adapter: lazily created boto3 clients (a Lambda cold start pays
only for what it uses), and what an AWS error means."""
from __future__ import annotations

import functools
from typing import Any

CONDITION_FAILED = "ConditionalCheckFailedException"
THROTTLE_CODES = frozenset(("ProvisionedThroughputExceededException", "ThrottlingException",
                            "RequestLimitExceeded", "SlowDown"))


@functools.cache
def client(service: str) -> Any:
    import boto3  # imported here: most API calls never need a boto3 client
    return boto3.session.Session().client(service, config=s3_config() if service == "s3" else None)


def s3_config() -> Any:
    """The configuration of every S3 client of the app."""
    from botocore.config import Config
    # Every part carries a CRC32 that S3 checks, and the file's SHA-1 is verified end to end, so
    # the SigV4 SHA-256 of each body is redundant work (about a quarter of a transfer's CPU).
    # On HTTPS boto3 already skips it when a checksum is sent; this says so for any endpoint.
    # Presigned URLs (image files for nodes, export parts) must be SigV4: botocore would
    # presign SigV2 in us-east-1, and the store's bucket policy refuses anything but SigV4.
    return Config(signature_version="s3v4", s3={"payload_signing_enabled": False})


def reset() -> None:
    client.cache_clear()


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError or a PynamoDB error, else None."""
    code = getattr(exc, "cause_response_code", None)  # PynamoDB
    if code:
        return str(code)
    response = getattr(exc, "response", None)          # botocore
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def condition_failed(exc: BaseException) -> bool:
    """A conditional write lost: the item was not in the state the condition named."""
    return error_code(exc) == CONDITION_FAILED


def throttled(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLE_CODES


# AWS's transient server-side errors (the SDKs retry them; so may whoever meets them after that)
SERVER_FAULT_CODES = frozenset(("InternalServerError", "InternalError", "InternalFailure",
                                "InternalException", "ServiceUnavailable", "ServiceException",
                                "TooManyRequestsException", "TransactionInProgressException"))


def transient(exc: BaseException) -> bool:
    """Throttling, an AWS 5xx or a connection fault, still there after the SDK's own retries:
    the same call may well succeed a little later. PynamoDB's errors are judged by their
    cause."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BotoConnectionError | HTTPClientError):
            return True
        code = error_code(current)
        if code in THROTTLE_CODES or code in SERVER_FAULT_CODES:
            return True
        response = getattr(current, "response", None)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") \
            if isinstance(response, dict) else None
        if isinstance(status, int) and status >= 500:
            return True
        cause = getattr(current, "cause", None)  # PynamoDB keeps botocore's error here
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return False


def unreachable(exc: BaseException) -> bool:
    """A dependency did not answer in time or could not be reached (botocore's read or
    connect timeout, a refused connection), directly or as the cause of a PynamoDB error:
    the request may succeed when retried, so it is a 503, not a server error."""
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.exceptions import ReadTimeoutError
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        # EndpointConnectionError and ConnectTimeoutError are botocore ConnectionErrors
        if isinstance(current, (ReadTimeoutError, BotocoreConnectionError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
