"""The store's CORS preflight, answered as S3 answers it (the console's browser PUTs upload
parts straight to presigned store URLs: another origin).

S3 answers `OPTIONS` on an object from the bucket's CORS configuration alone, without
authentication: the first rule whose AllowedOrigins, AllowedMethods and AllowedHeaders admit
the request's Origin, Access-Control-Request-Method and -Headers gives the answer; otherwise
403 `AccessForbidden` ("CORSResponse: …"). moto's server instead runs flask-cors over every
service (any preflight passes) and, behind the IAM gate, a presigned URL's OPTIONS failed its
signature check. This WSGI middleware sits in front of both and answers every S3 preflight
itself. (S3's user guide, "How does Amazon S3 evaluate the CORS configuration on a bucket?")
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from devstack.iam import denials

StartResponse = Callable[..., Any]
NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the "
               "evalution of Origin, request method / Access-Control-Request-Method or "
               "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
MISSING = "Insufficient information. Origin request header needed."


def _bucket(name: str) -> Any:
    from moto.s3.models import s3_backends
    for regions in dict.values(s3_backends):
        for backend in dict.values(regions):
            if name in backend.buckets:
                return backend.buckets[name]
    return None


def _matches(value: str, patterns: list[str] | None) -> bool:
    """S3's patterns: exact, or with one `*` standing for any characters."""
    for pattern in patterns or []:
        head, star, tail = pattern.partition("*")
        if value == pattern or star and len(value) >= len(head) + len(tail) \
                and value.startswith(head) and value.endswith(tail):
            return True
    return False


def _rule_for(rules: list[Any], origin: str, method: str, headers: list[str]) -> Any:
    for rule in rules:
        allowed_headers = [h.lower() for h in rule.allowed_headers or []]
        if _matches(origin, rule.allowed_origins) and method in (rule.allowed_methods or []) \
                and all(_matches(h, allowed_headers) for h in headers):
            return rule
    return None


def preflight(bucket: Any, request_headers: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    origin = request_headers.get("Origin", "")
    method = request_headers.get("Access-Control-Request-Method", "")
    if not origin or not method:
        return denials.s3_error(400, "BadRequest", MISSING, ())
    if not bucket.cors:
        return denials.s3_error(403, "AccessForbidden", NOT_ENABLED,
                                (("Method", method), ("ResourceType", "OBJECT")))
    asked = [h.strip().lower() for h in request_headers.get(
        "Access-Control-Request-Headers", "").split(",") if h.strip()]
    rule = _rule_for(bucket.cors, origin, method, asked)
    if rule is None:
        return denials.s3_error(403, "AccessForbidden", NOT_ALLOWED,
                                (("Method", method), ("ResourceType", "OBJECT")))
    headers = [("Access-Control-Allow-Origin", "*" if rule.allowed_origins == ["*"] else origin),
               ("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods)),
               ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")]
    if asked:
        headers.append(("Access-Control-Allow-Headers", ", ".join(asked)))
    if rule.exposed_headers:
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule.exposed_headers)))
    if rule.max_age_seconds is not None:
        headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
    return "200 OK", headers, b""


class StoreCors:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "OPTIONS":
            return self.app(environ, start_response)
        name = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        bucket = _bucket(name) if name else None
        if bucket is None:  # not the store: moto's own answer
            return self.app(environ, start_response)
        from werkzeug.datastructures import EnvironHeaders
        status, headers, body = preflight(bucket, EnvironHeaders(environ))
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]
