"""What API Gateway (REST API, Lambda proxy integration) answers at its own and at Lambda's
limits, for the local gateway (`devstack/gateway.py`).

- a request body over 10 MB, or a Lambda event over Lambda's 6 MB request payload: 413
  `{"detail": "Request Too Long"}` (the REQUEST_TOO_LARGE gateway response);
- a Lambda response over 6 MB: Lambda refuses to return it, so API Gateway answers 502
  `{"detail": "Internal server error"}`;
- an integration running past the timeout (29 s): 504 `{"detail": "Endpoint request timed
  out"}`. The function itself is not stopped: it runs on, as in Lambda, and its answer is lost.

The texts are AWS's; the `detail` envelope is the deployed stack's gateway responses'
(infra/gateway_responses.py).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from devstack import limits
from devstack.gateway_answers import own_answer
from infra import gateway_responses as texts

REQUEST_TOO_LARGE = own_answer(413, texts.REQUEST_TOO_LARGE)
RESPONSE_TOO_LARGE = own_answer(502, texts.INTEGRATION_FAILED)
TIMED_OUT = own_answer(504, texts.TIMED_OUT)
_CHUNK = 1 << 20


class IntegrationTimeout(Exception):
    """The integration did not answer within API Gateway's timeout."""


def body_too_large(length: int) -> bool:
    return limits.enforced() and length > limits.API_GATEWAY_PAYLOAD_BYTES


def discard(stream: BinaryIO, length: int) -> None:
    """Read a refused body to its end, so the client (still sending) gets the answer."""
    while length > 0:
        chunk = stream.read(min(_CHUNK, length))
        if not chunk:
            return
        length -= len(chunk)


def event_too_large(body: bytes | None) -> bool:
    """The proxy event carries the body (plus headers and context): a body alone over Lambda's
    request payload is already too large to invoke the function with."""
    return limits.enforced() and len(body or b"") > limits.LAMBDA_SYNC_PAYLOAD_BYTES


def response_too_large(response: dict[str, Any]) -> bool:
    """Lambda serializes the function's proxy response as JSON; that is what the 6 MB limit
    measures (the body inside it is a JSON string, so its quotes are escaped)."""
    if not limits.enforced():
        return False
    return len(json.dumps(response, ensure_ascii=False).encode("utf-8", "surrogatepass")) \
        > limits.LAMBDA_SYNC_PAYLOAD_BYTES


def call_integration(invoke: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`invoke()` in its own thread; its result or exception, or `IntegrationTimeout` once the
    timeout has passed (the thread runs on, as the Lambda function would)."""
    if not limits.enforced():
        return invoke()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["response"] = invoke()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the request's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="integration").start()
    if not done.wait(limits.integration_timeout_seconds()):
        raise IntegrationTimeout()
    if "error" in outcome:
        raise outcome["error"]
    return dict(outcome["response"])
