"""SigV4 query-string authentication of presigned store URLs, checked as S3 checks it.

The signature is recomputed with botocore's own signer (S3SigV4QueryAuth) over the request as
received: method, path, every query parameter but X-Amz-Signature (partNumber, uploadId,
X-Amz-Expires, ...) and the signed headers, with the secret of the signer's access key. A
URL whose signature does not match is S3's 403 `SignatureDoesNotMatch`; one past
X-Amz-Date + X-Amz-Expires is 403 `AccessDenied` "Request has expired".
"""
from __future__ import annotations

import datetime
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
MAX_EXPIRES = 7 * 24 * 3600   # S3: a presigned URL lives at most seven days


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


clock: Callable[[], datetime.datetime] = utc_now  # a test may set another clock


@dataclass(frozen=True)
class Refusal:
    code: str          # S3's error code
    message: str       # S3's message
    details: tuple[tuple[str, str], ...] = ()   # more elements of S3's error document
    status: int = 403


@dataclass(frozen=True)
class Presigned:
    access_key: str
    region: str
    service: str
    timestamp: str
    expires: str
    signature: str


def presigned(query: str) -> Presigned | None:
    """The SigV4 query authentication of a URL's query string, None when it has none."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in params:
        return None
    key, _, rest = params.get("X-Amz-Credential", "").partition("/")
    parts = rest.split("/")
    region, service = (parts[1], parts[2]) if len(parts) == 4 else ("", "")
    return Presigned(key, region, service, params.get("X-Amz-Date", ""),
                     params.get("X-Amz-Expires", ""), params["X-Amz-Signature"])


def signature(method: str, url: str, headers: Mapping[str, str], access_key: str, secret: str,
              region: str, timestamp: str) -> str:
    """botocore's SigV4 query signature of `url` (its X-Amz-* parameters included, the
    signature left out) at `timestamp`, over the headers named in X-Amz-SignedHeaders."""
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    request.context["timestamp"] = timestamp
    auth = S3SigV4QueryAuth(Credentials(access_key, secret), "s3", region)
    canonical = auth.canonical_request(request)
    return str(auth.signature(auth.string_to_sign(request, canonical), request))


def check(method: str, url: str, headers: Mapping[str, str],
          secret_of: Callable[[str], str | None]) -> Refusal | None:
    """None when the presigned request in `url` is valid now; else S3's refusal."""
    parts = urlsplit(url)
    auth = presigned(parts.query)
    if auth is None:
        return None
    secret = secret_of(auth.access_key)
    if secret is None:
        return Refusal("InvalidAccessKeyId",
                       "The AWS Access Key Id you provided does not exist in our records.",
                       (("AWSAccessKeyId", auth.access_key),))
    unsigned = "&".join(pair for pair in parts.query.split("&")
                        if not pair.startswith("X-Amz-Signature="))
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signed = {name: value for name, value in headers.items()
              if name.lower() in params.get("X-Amz-SignedHeaders", "host").split(";")}
    expected = signature(method, parts._replace(query=unsigned).geturl(), signed,
                         auth.access_key, secret, auth.region, auth.timestamp)
    if not hmac.compare_digest(expected, auth.signature):
        return Refusal("SignatureDoesNotMatch",
                       "The request signature we calculated does not match the signature you "
                       "provided. Check your key and signing method.",
                       (("AWSAccessKeyId", auth.access_key),))
    try:
        signed_at = datetime.datetime.strptime(auth.timestamp, SIGV4_TIMESTAMP).replace(
            tzinfo=datetime.UTC)
        lifetime = int(auth.expires)
    except ValueError:
        return Refusal("AuthorizationQueryParametersError",
                       "X-Amz-Date and X-Amz-Expires must be a SigV4 timestamp and seconds.",
                       status=400)
    if not 0 < lifetime <= MAX_EXPIRES:
        return Refusal("AuthorizationQueryParametersError",
                       "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                       status=400)
    now = clock()
    if now > signed_at + datetime.timedelta(seconds=lifetime):
        return Refusal("AccessDenied", "Request has expired", (
            ("X-Amz-Expires", auth.expires),
            ("Expires", (signed_at + datetime.timedelta(seconds=lifetime)).strftime(
                "%Y-%m-%dT%H:%M:%SZ")),
            ("ServerTime", now.strftime("%Y-%m-%dT%H:%M:%SZ"))))
    return None
