"""The emulator's IAM gate: a WSGI middleware in front of moto's server app.

For each request it finds the signer (the SigV4 Authorization header's or a presigned URL's
access key), verifies a presigned store URL (devstack.iam.presign), and authorises every
action the request makes (devstack.iam.actions) against the signer's policy
(devstack.iam.policies, devstack.iam.evaluate). A denial is the service's own AccessDenied
and a log line naming the function, the action and the resource. As in S3, a read of a
missing object by a principal without s3:ListBucket on the bucket is 403, not 404.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from devstack.iam import actions, denials, enabled, evaluate, policies, presign
from devstack.iam.policies import Principal

log = logging.getLogger("devstack.iam")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")

StartResponse = Callable[..., Any]


class Gate:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        known = policies.current()
        if known is None or not enabled():
            return self.app(environ, start_response)
        from werkzeug.datastructures import EnvironHeaders
        headers = EnvironHeaders(environ)
        method = environ["REQUEST_METHOD"]
        raw_uri = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        query = environ.get("QUERY_STRING", "")
        signed = _CREDENTIAL.search(headers.get("Authorization", ""))
        if signed:
            access_key, service = signed.groups()
        elif (auth := presign.presigned(query)) is not None:
            refusal = presign.check(method, f"http://{headers.get('Host', '')}{raw_uri}",
                                    headers, known.secret)
            if refusal is not None:
                log.warning("store refused a presigned %s %s: %s", method,
                            raw_uri.partition("?")[0], refusal.code)
                return _answer(start_response, method,
                               denials.s3_error(refusal.status, refusal.code, refusal.message,
                                                refusal.details))
            access_key, service = auth.access_key, auth.service
        else:
            return self.app(environ, start_response)
        principal = known.by_key(access_key)
        if principal is None:
            return self.app(environ, start_response)
        requests = actions.derive(service, method, raw_uri, query, headers, _Body(environ))
        for request in requests:
            denied = _check(principal, request)
            if denied is not None:
                return _answer(start_response, method, denials.access_denied(
                    service, denied, json_protocol=bool(headers.get("X-Amz-Target"))))
        if service == "s3" and method in ("GET", "HEAD") and requests \
                and requests[0].action == "s3:GetObject":
            bucket = requests[0].resource.partition("/")[0]
            listing = evaluate.Request("s3:ListBucket", bucket, {})
            if _check(principal, listing, quiet=True) is not None:
                return self._missing_is_forbidden(environ, start_response, principal,
                                                  requests[0])
        return self.app(environ, start_response)

    def _missing_is_forbidden(self, environ: dict[str, Any], start_response: StartResponse,
                              principal: Principal, read: evaluate.Request) -> Iterable[bytes]:
        """S3 hides whether a key exists from who may not list the bucket: 404 becomes 403."""
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda data: None

        result = self.app(environ, capture)
        if not captured or not captured[0].startswith("404"):
            start_response(*captured)
            return result
        if hasattr(result, "close"):
            result.close()
        text = denials.message(principal.arn, "s3:ListBucket", read.resource.partition("/")[0],
                               explicit=False)
        log.warning("IAM: %s read missing %s without s3:ListBucket: 403", principal.name,
                    read.resource)
        return _answer(start_response, environ["REQUEST_METHOD"],
                       denials.access_denied("s3", text, json_protocol=False))


def _check(principal: Principal, request: evaluate.Request, quiet: bool = False) -> str | None:
    """None when the principal may; else AWS's message (and the log line, unless quiet)."""
    context = {**{f"aws:PrincipalTag/{k}": v for k, v in principal.tags.items()},
               "aws:PrincipalArn": principal.arn, **request.context}
    effect = evaluate.decide(principal.statements,
                             evaluate.Request(request.action, request.resource, context))
    if effect is evaluate.Effect.ALLOW:
        return None
    if not quiet:
        log.warning("IAM: %s may not %s on %s (%s)", principal.name, request.action,
                    request.resource, effect.value)
    return denials.message(principal.arn, request.action, request.resource,
                           explicit=effect is evaluate.Effect.DENY)


def _answer(start_response: StartResponse, method: str,
            response: denials.Response) -> Iterable[bytes]:
    status, headers, body = response
    start_response(status, [*headers, ("Content-Length", "0" if method == "HEAD"
                                       else str(len(body)))])
    return [b"" if method == "HEAD" else body]


class _Body:
    """The request body, read at most once and put back for moto."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.data: bytes | None = None

    def __call__(self) -> bytes:
        if self.data is None:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
            self.data = b""
            if length > 0:   # a body without a length (chunked) is left to moto, unread
                self.data = self.environ["wsgi.input"].read(length)
                self.environ["wsgi.input"] = io.BytesIO(self.data)
        return self.data
