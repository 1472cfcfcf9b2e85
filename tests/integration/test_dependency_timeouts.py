"""A dependency that does not answer in time (botocore's read or connect timeout, a refused
connection), directly or inside a PynamoDB error, is a 503 with a clear text and a
Retry-After hint, never a 500 "unhandled error" (issue 17: `make bench` died on one)."""
from __future__ import annotations

import pytest
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pynamodb.exceptions import QueryError, ScanError

from chalicelib.api import http
from chalicelib.domain import http_texts

URL = "http://127.0.0.1:1/"


def _wrapped(outer: type[Exception], inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer("Failed to scan", exc) from exc
    except Exception as exc:  # noqa: BLE001 - the error as the app would catch it
        return exc


@pytest.mark.parametrize("error", [
    ReadTimeoutError(endpoint_url=URL),
    ConnectTimeoutError(endpoint_url=URL),
    EndpointConnectionError(endpoint_url=URL),
    _wrapped(ScanError, ReadTimeoutError(endpoint_url=URL)),
    _wrapped(QueryError, EndpointConnectionError(endpoint_url=URL)),
])
def test_an_unreachable_dependency_is_a_503_with_retry_after(error):
    reply = http._error_reply(error, None)
    assert reply.status == 503
    assert reply.body == {"detail": http_texts.DEPENDENCY_UNAVAILABLE}
    assert int(reply.headers["Retry-After"]) > 0


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError
    return ClientError({"Error": {"Code": code, "Message": code},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetItem")


@pytest.mark.parametrize("error", [
    _client_error("InternalServerError", 500),
    _client_error("ServiceUnavailable", 503),
    _wrapped(QueryError, _client_error("InternalServerError", 500)),
])
def test_a_server_error_past_the_sdks_retries_is_a_503_not_a_500(error):
    """Found by the soak at a 30 % fault rate: a DynamoDB 5xx that outlived the retries was
    answered 500 "Internal server error"."""
    reply = http._error_reply(error, None)
    assert reply.status == 503
    assert reply.body == {"detail": http_texts.DEPENDENCY_FAILED}
    assert int(reply.headers["Retry-After"]) > 0


def test_a_throttle_past_the_sdks_retries_is_still_429():
    assert http._error_reply(_client_error("ThrottlingException", 400), None).status == 429


def test_any_other_error_is_still_a_500():
    assert http._error_reply(_wrapped(ScanError, ValueError("bug")), None).status == 500
