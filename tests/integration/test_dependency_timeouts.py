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


def test_any_other_error_is_still_a_500():
    assert http._error_reply(_wrapped(ScanError, ValueError("bug")), None).status == 500
