"""The HTTP edge: request parsing, the Danube Cloud envelope and headers, error mapping.

Views are plain functions `view(ctx, **url_params) -> Reply`; `routes()` registers them on a
Chalice blueprint for every HTTP method so that a wrong method is a clean 405 (API Gateway
would otherwise answer 403 "Missing Authentication Token").
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import compression
from chalicelib.config import SERVICE_VERSION, settings
from chalicelib.domain import errors, http_texts, limits
from chalicelib.domain.permissions import Principal
from chalicelib.domain.vocabulary import FAILURE, PENDING, SUCCESS
from chalicelib.logs import bind, log_context

log = logging.getLogger("imageapi.http")

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# Danube Cloud clients send `application/json; indent=4`; some send nothing or form types.
ANY_CONTENT = ["*/*"]


@dataclass
class Ctx:
    """Everything a view needs from the request, parsed once."""

    method: str
    params: dict[str, str]                 # query string (last value wins)
    body: dict[str, Any]                   # JSON body object ({} when empty)
    headers: Mapping[str, str]
    principal: Principal | None = None
    dc: str = ""                           # the DC the request ends in (es_dc header)

    @property
    def caller(self) -> Principal:
        """The authenticated principal: routes registered with authentication always have one."""
        if self.principal is None:
            raise errors.NotAuthenticated()
        return self.principal

    def header(self, name: str) -> str | None:
        return self.headers.get(name) or self.headers.get(name.lower())


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def success(ctx: Ctx, result: Any, task_id: str, status: int = 200,
            headers: dict[str, str] | None = None) -> Reply:
    """A synchronous SUCCESS task response."""
    hdrs = {"es_task_id": task_id, **(headers or {})}
    return Reply(status, {"task_id": task_id, "status": SUCCESS, "result": result}, hdrs)


def pending(task_id: str) -> Reply:
    return Reply(201, {"task_id": task_id, "status": PENDING, "result": None},
                 {"es_task_id": task_id, "es_task_response": "true"})


def plain(result: Any, status: int = 200) -> Reply:
    return Reply(status, result)


def _parse_body(raw: str | bytes | None) -> dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.MalformedRequest() from None
    if not isinstance(value, dict) or limits.nesting_depth(value) > limits.MAX_BODY_DEPTH \
            or limits.has_lone_surrogate(value):
        raise errors.MalformedRequest()
    return value


def _parse_params(query: Any) -> dict[str, str]:
    if not query:
        return {}
    return {key: query.getlist(key)[-1] for key in query}


def envelope_headers(dc: str = "", username: str = "") -> dict[str, str]:
    """Danube Cloud's headers of every response (SPEC §1.1), the gateway's own 404 included."""
    return {"Content-Type": "application/json", "es_version": SERVICE_VERSION,
            "es_dc": dc or settings().default_dc, "es_username": username}


NOT_FOUND_BODY = {"detail": http_texts.NOT_FOUND}  # an unknown route, answered by the gateway


def _render(reply: Reply, ctx: Ctx | None) -> Response:
    headers = envelope_headers(ctx.dc if ctx else "",
                               ctx.principal.username if ctx and ctx.principal else "")
    headers.update(reply.headers)
    body = json.dumps(reply.body)
    if ctx is not None and compression.wanted(ctx.headers, body):
        return _render_gzip(reply, ctx, headers, body)
    if not limits.response_fits(reply.status, headers, body):
        # past Lambda's response limit API Gateway would answer 502: say what fits instead
        log.warning("answer of %d bytes refused: over Lambda's response limit", len(body))
        return _render(Reply(400, {"detail": http_texts.RESPONSE_TOO_LARGE}), ctx)
    return Response(body=body, status_code=reply.status,
                    headers=dict[str, str | list[str]](headers))


def _render_gzip(reply: Reply, ctx: Ctx, headers: dict[str, str], body: str) -> Response:
    headers = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    encoded = compression.encode(body)
    if not limits.response_fits(reply.status, headers, encoded):  # measured as sent: base64
        log.warning("gzip'd answer of %d bytes refused: over Lambda's response limit",
                    len(encoded))
        return _render(Reply(400, {"detail": http_texts.RESPONSE_TOO_LARGE}), ctx)
    return compression.GzipResponse(body=encoded, status_code=reply.status,
                                    headers=dict[str, str | list[str]](headers))


def _error_reply(exc: Exception, ctx: Ctx | None) -> Reply:
    if isinstance(exc, errors.ValidationFailed):
        from chalicelib.domain.taskids import dummy_task_id
        task_id = dummy_task_id(ctx.principal.username if ctx and ctx.principal else "")
        return Reply(400, {"task_id": task_id, "status": FAILURE, "result": exc.errors},
                     {"es_task_id": task_id})
    if isinstance(exc, errors.ApiError):
        retry_after = getattr(exc, "retry_after_seconds", None)  # a 503's "try again then"
        return Reply(exc.status, {"detail": exc.detail},
                     {"Retry-After": str(retry_after)} if retry_after else {})
    from chalicelib.adapters.aws import throttled
    if throttled(exc):
        return Reply(errors.Throttled.status, {"detail": errors.Throttled.detail})
    from chalicelib.adapters.aws import transient, unreachable
    if unreachable(exc) or transient(exc):  # the same call may well succeed a little later
        log.warning("dependency unavailable: %s", type(exc).__name__)
        answer = errors.DependencyUnavailable if unreachable(exc) else errors.DependencyFailed
        return Reply(answer.status, {"detail": answer.detail},
                     {"Retry-After": str(answer.retry_after_seconds)})
    log.exception("unhandled error")
    return Reply(500, {"detail": http_texts.INTERNAL_ERROR})


View = Callable[..., Reply]


def _request_id(bp: Blueprint) -> str | None:
    """API Gateway's request id (its x-amzn-RequestId), else the Lambda invocation's."""
    context = getattr(bp.current_request, "context", None) or {}
    lambda_context = getattr(bp.current_app, "lambda_context", None)
    return context.get("requestId") or getattr(lambda_context, "aws_request_id", None)


def routes(bp: Blueprint, path: str, views: dict[str, View], *, authenticated: bool = True) -> None:
    """Register `views` (method -> view) for `path`, all methods on one Chalice route."""

    def dispatch(**url_params: str) -> Response:
        named = {key: url_params.get(param) for key, param in (("image_name", "name"),
                                                               ("task_id", "task_id"))}
        with log_context(request_id=_request_id(bp), **{
                key: value for key, value in named.items() if value and limits.key_fits(value)}):
            return handle(**url_params)

    def handle(**url_params: str) -> Response:
        request = bp.current_request
        ctx: Ctx | None = None
        try:
            method = request.method.upper()
            ctx = Ctx(method=method, params=_parse_params(request.query_params),
                      body={}, headers=request.headers)
            if method == "OPTIONS":  # the route's description, for `es help` (no key needed)
                from chalicelib.api.descriptions import describe
                return _render(Reply(200, describe(path), {"Allow": ", ".join(views)}), ctx)
            view = views.get(method)
            if view is None:  # RFC 9110: a 405 says which methods the resource has
                reply = _error_reply(errors.MethodNotAllowed(
                    http_texts.method_not_allowed(method)), ctx)
                reply.headers["Allow"] = ", ".join(views)
                return _render(reply, ctx)
            if authenticated:
                from chalicelib.services.identity.authentication import authenticate
                ctx.principal = authenticate(ctx)
                bind(user=ctx.principal.username)
            if not all(limits.key_fits(value) for value in url_params.values()):
                # `/image//` or a 3000-byte name: nothing stored can be called that
                raise errors.NotFound(http_texts.NOT_FOUND)
            if method != "GET":
                ctx.body = _parse_body(request.raw_body)
            return _render(view(ctx, **url_params), ctx)
        except Exception as exc:  # every failure becomes a clean response, never a raw 500
            return _render(_error_reply(exc, ctx), ctx)

    dispatch.__name__ = "view_" + "".join(c if c.isalnum() else "_" for c in path)
    bp.route(path, methods=METHODS, content_types=ANY_CONTENT)(dispatch)
