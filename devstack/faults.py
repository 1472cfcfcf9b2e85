"""AWS's transient faults, on demand: `DEVSTACK_FAULTS=<rate>` (e.g. 0.05).

AWS throttles and fails now and then; moto never does. With a rate set, a WSGI middleware
around moto's server answers that share of requests with the service's own transient error,
status code and error shape (the request is not processed, as when AWS throttles):

- DynamoDB: ProvisionedThroughputExceededException / ThrottlingException (400),
  InternalServerError (500);
- S3: 503 SlowDown and 500 InternalError (XML);
- SQS: 500 InternalFailure; EventBridge: 500 InternalException;
- Step Functions: 400 ThrottlingException;
- Lambda `Invoke` (the state machines' Lambda tasks): 500 ServiceException and
  429 TooManyRequestsException, which the state machine sees as `Lambda.ServiceException` /
  `Lambda.TooManyRequestsException`, exactly what the Retry blocks match.

Who is faulted: the app, the node agent and the state machines, i.e. every request once the
stack is up (`arm()`, called at the end of `Stack.start`). Never faulted: the stack's set-up
(before `arm()`), moto's own `/moto-api/`, and clients that `exempt()` themselves with the
`x-devstack-faults: off` header — the stack's stand-ins for AWS's own machinery (the event
pump that plays EventBridge → Lambda delivery, the watcher that plays the status-change
events) and anything inspecting the emulator (benchmarks, tests reading tables). A header and
not an access key: the app, the tests and the inspectors share the emulator's credentials, and
the IAM check may give principals keys of their own.

Replay: whether a request is faulted depends only on the seed, the service, the action and how
many requests of that action came before (not on the interleaving with other actions), so
`DEVSTACK_FAULTS_SEED=<the seed printed at start-up>` replays a failing run as far as its
requests come in the same order. `GET /moto-api/faults` answers the counters (JSON).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("devstack.faults")

EXEMPT_HEADER = "x-devstack-faults"
COUNTERS_PATH = "/moto-api/faults"
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_INVOKE = re.compile(r"^/20\d\d-\d\d-\d\d/functions/[^/]+/invocations$")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Fault:
    """One transient error as the service answers it."""

    code: str
    status: int

    def render(self, service: str, form_encoded: bool) -> tuple[list[tuple[str, str]], bytes]:
        request_id = str(uuid.uuid4())
        message = _MESSAGES.get(self.code, "Please try again.")
        if service == "s3":
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
                    f"<Message>{message}</Message><RequestId>{request_id}</RequestId>"
                    f"<HostId>{request_id}</HostId></Error>").encode()
            return [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body
        if service == "sqs" and form_encoded:  # the query protocol (older SDKs, the CLI)
            body = (f"<ErrorResponse><Error><Type>Receiver</Type><Code>{self.code}</Code>"
                    f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                    "</ErrorResponse>").encode()
            return [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
        if service == "lambda":  # rest-json: the error code travels in a header
            fields: dict[str, str] = {"Type": "Service" if self.status >= 500 else "User",
                                      "message": message}
            if self.code == "TooManyRequestsException":
                fields["Reason"] = "ConcurrentInvocationLimitExceeded"
            return [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id),
                    ("x-amzn-ErrorType", self.code)], json.dumps(fields).encode()
        namespace = {"dynamodb": "com.amazonaws.dynamodb.v20120810#",
                     "sqs": "com.amazonaws.sqs#"}.get(service, "")
        if self.code == "ThrottlingException" and service == "dynamodb":
            namespace = "com.amazon.coral.availability#"
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)]
        if service == "sqs":  # SQS's JSON protocol also names the query-compatible code
            headers.append(("x-amzn-query-error", f"{self.code};Receiver"))
        return headers, json.dumps({"__type": namespace + self.code, "message": message}).encode()


_MESSAGES = {
    "ProvisionedThroughputExceededException": "The level of configured provisioned throughput "
                                              "for the table was exceeded.",
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "InternalServerError": "Internal server error",
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
    "InternalFailure": "The request processing has failed because of an unknown error, "
                       "exception or failure.",
    "InternalException": "An internal error occurred. Please try again.",
    "ServiceException": "The AWS Lambda service encountered an internal error.",
    "TooManyRequestsException": "Rate Exceeded.",
}

# Each service's transient errors; one is picked per faulted request.
FAULTS: dict[str, tuple[Fault, ...]] = {
    "dynamodb": (Fault("ProvisionedThroughputExceededException", 400),
                 Fault("ThrottlingException", 400), Fault("InternalServerError", 500)),
    "s3": (Fault("SlowDown", 503), Fault("InternalError", 500)),
    "sqs": (Fault("InternalFailure", 500),),
    "events": (Fault("InternalException", 500),),
    "states": (Fault("ThrottlingException", 400),),
    "lambda": (Fault("ServiceException", 500), Fault("TooManyRequestsException", 429)),
}


class FaultPlan:
    """Which requests fail, deterministically from the seed, and what was injected."""

    def __init__(self, rate: float, seed: int,
                 services: frozenset[str] = frozenset(FAULTS)) -> None:
        self.rate, self.seed, self.services = rate, seed, services
        self.armed = False
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str]] = Counter()
        self.requests = 0
        self.injected: Counter[str] = Counter()

    def decide(self, service: str, action: str) -> Fault | None:
        with self._lock:
            if not self.armed or service not in self.services:
                return None
            self.requests += 1
            nth = self._seen[(service, action)]
            self._seen[(service, action)] += 1
            draw = _uniform(f"{self.seed}:{service}:{action}:{nth}")
            if draw >= self.rate:
                return None
            choices = FAULTS[service]
            fault = choices[int(draw / self.rate * len(choices)) % len(choices)]
            self.injected[f"{service} {action} {fault.code}"] += 1
            return fault

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {"rate": self.rate, "seed": self.seed, "armed": self.armed,
                    "requests": self.requests, "injected": sum(self.injected.values()),
                    "by_fault": dict(sorted(self.injected.items()))}


def _uniform(key: str) -> float:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


_plan: FaultPlan | None = None


def plan() -> FaultPlan | None:
    return _plan


def use(new: FaultPlan | None) -> FaultPlan | None:
    """Put `new` in place (tests: faults on a running emulator); returns the previous plan."""
    global _plan
    previous, _plan = _plan, new
    return previous


def configure_from_env() -> FaultPlan | None:
    """Read DEVSTACK_FAULTS / DEVSTACK_FAULTS_SEED; None when faults are off."""
    global _plan
    raw = os.environ.get("DEVSTACK_FAULTS", "").strip()
    if not raw or raw.lower() in ("0", "off", "no", "false"):
        _plan = None
        return None
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"DEVSTACK_FAULTS must be a rate between 0 and 1, not {raw!r}") from None
    if not 0 <= rate <= 1:
        raise ValueError(f"DEVSTACK_FAULTS must be a rate between 0 and 1, not {raw!r}")
    seed_text = os.environ.get("DEVSTACK_FAULTS_SEED", "").strip()
    try:
        seed = int(seed_text) if seed_text else secrets.randbelow(10**6)
    except ValueError:
        raise ValueError(f"DEVSTACK_FAULTS_SEED must be an integer, not {seed_text!r}") from None
    os.environ["DEVSTACK_FAULTS_SEED"] = str(seed)  # a second reading gets the same seed
    _plan = FaultPlan(rate, seed)
    return _plan


def describe(emulator_url: str) -> str:
    assert _plan is not None
    return (f"AWS faults:   {_plan.rate:.3g} of requests fail transiently "
            f"(DEVSTACK_FAULTS_SEED={_plan.seed} replays; counters: {emulator_url}{COUNTERS_PATH})")


def arm() -> None:
    """The stack is up: from now on requests are faulted (when a rate is set)."""
    if _plan is not None and not _plan.armed:
        _plan.armed = True
        log.warning("AWS faults on: %.3g of requests fail transiently "
                    "(replay with DEVSTACK_FAULTS_SEED=%d)", _plan.rate, _plan.seed)


def wrap(app: WsgiApp) -> WsgiApp:
    """moto's WSGI app behind the fault injector (and the counters endpoint)."""

    def faulting(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == COUNTERS_PATH:
            body = json.dumps(_plan.counters() if _plan else {"injected": 0}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        fault = _fault_for(environ, path)
        if fault is None:
            return app(environ, start_response)
        service = _service(environ) or ""
        form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        headers, body = fault.render(service, form)
        _drain(environ)
        start_response(f"{fault.status} {_REASONS[fault.status]}",
                       [*headers, ("Content-Length", str(len(body)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return faulting


_REASONS = {400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Slow Down"}


def _fault_for(environ: dict[str, Any], path: str) -> Fault | None:
    if _plan is None or not _plan.armed or path.startswith("/moto-api"):
        return None
    if environ.get("HTTP_" + EXEMPT_HEADER.upper().replace("-", "_"), "").lower() == "off":
        return None
    service = _service(environ)
    if service not in FAULTS:
        return None  # IAM, STS, SSM, ...: not among the faults asked for
    if service == "lambda" and not _INVOKE.match(path):
        return None  # only invocations (the state machines' tasks)
    return _plan.decide(service, _action(environ, service, path))


def _service(environ: dict[str, Any]) -> str | None:
    """The signing scope's service: from the Authorization header or a presigned query."""
    text = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL.search(text)
    if match is None:
        from urllib.parse import unquote
        match = _CREDENTIAL.search("Credential=" + unquote(
            _query_value(environ.get("QUERY_STRING", ""), "X-Amz-Credential")))
    return match.group(1) if match else None


def _query_value(query: str, name: str) -> str:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return ""


def _action(environ: dict[str, Any], service: str, path: str) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    if service == "lambda":
        return "Invoke"
    if service == "s3":  # method plus the sub-resource, enough to tell the calls apart
        query = environ.get("QUERY_STRING", "")
        marks = [name for name in ("uploads", "uploadId", "partNumber", "list-type", "delete")
                 if re.search(rf"(^|&){name}(=|&|$)", query)]
        return " ".join([environ.get("REQUEST_METHOD", ""), *marks])
    return environ.get("REQUEST_METHOD", "")  # SQS query protocol: the body is not read here


def _drain(environ: dict[str, Any]) -> None:
    """Read the refused request's body, so the connection stays usable for the next one."""
    stream = environ.get("wsgi.input")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if not length and environ.get("wsgi.input_terminated"):
        length = 1 << 62  # chunked: read to its end
    while stream is not None and length > 0:
        chunk = stream.read(min(length, 1 << 20))
        if not chunk:
            break
        length -= len(chunk)


def exempt(client: Any) -> Any:
    """A boto3 client whose requests are never faulted (the stack's stand-ins for AWS's own
    machinery, and anything that inspects the emulator). Returns the client."""

    def add_header(request: Any, **_: Any) -> None:
        request.headers[EXEMPT_HEADER] = "off"

    client.meta.events.register_first("before-sign.*.*", add_header)
    return client
