"""Fetching manifests and image files from image repositories under the source URL policy
(SPEC §7): redirects followed and re-checked one by one, bodies capped or streamed, transport
failures turned into short reasons a client can read. The address check itself is in
`guarded_http`, at connect time.
"""
from __future__ import annotations

import http
import socket
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from urllib3.exceptions import NameResolutionError

from chalicelib.adapters.guarded_http import (  # noqa: F401 (part of this module's interface)
    NOT_ALLOWED,
    PolicyAdapter,
    SourceError,
    SourceNotAllowed,
    configured_policy,
    new_session,
)
from chalicelib.domain.urlpolicy import ALLOWED_SCHEMES, SourcePolicy, check_url_syntax

MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
TOO_LARGE = "Response is too large"
# Ask for the bytes as stored: a file's SHA-1 is over the raw bytes, and nothing is decompressed.
_HEADERS = {"Accept-Encoding": "identity"}


# --- public API ---------------------------------------------------------------------------------

def fetch_bytes(url: str, *, policy: SourcePolicy, max_bytes: int, timeout: float,
                ca_bundle: str | None = None) -> bytes:
    """GET `url` (following checked redirects) and return a body of at most `max_bytes` bytes."""
    response = open_stream(url, policy=policy, timeout=timeout, ca_bundle=ca_bundle)
    with response:
        if _declared_length(response) > max_bytes:
            raise SourceError(TOO_LARGE)
        return _read_capped(response, max_bytes)


def open_stream(url: str, *, policy: SourcePolicy, timeout: float,
                ca_bundle: str | None = None) -> requests.Response:
    """A 2xx streaming response for `url` (redirects followed and checked); the caller closes it.

    Read it with `iter_body()` (or `iter_content()`); the body is never buffered here.
    """
    session = new_session(policy, ca_bundle)
    try:
        response = _follow_redirects(session, url, timeout)
    except BaseException:
        session.close()
        raise
    _close_session_with(response, session)
    return response


def iter_body(response: requests.Response, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The raw body bytes (no content decoding) in chunks; transport errors become SourceError."""
    try:
        yield from response.raw.stream(chunk_size, decode_content=False)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise SourceError(_reason_for(exc)) from exc


# --- helpers ------------------------------------------------------------------------------------

def _follow_redirects(session: requests.Session, url: str, timeout: float) -> requests.Response:
    """GET with manual redirects so every hop is re-validated (and counted)."""
    _check_first_url(url)
    for _ in range(MAX_REDIRECTS + 1):
        response = _get(session, url, timeout)
        target = session.get_redirect_target(response)
        if target is None:
            if 200 <= response.status_code < 300:
                return response
            response.close()
            raise SourceError(_status_reason(response))
        response.close()
        url = _check_redirect_target(urljoin(url, target))
    raise SourceError(f"Exceeded {MAX_REDIRECTS} redirects.")


def _check_first_url(url: str) -> None:
    if check_url_syntax(url) is not None:
        raise SourceError("Invalid URL")


def _check_redirect_target(url: str) -> str:
    if urlsplit(url).scheme.lower() not in ALLOWED_SCHEMES:
        raise SourceError("Redirect to a non-HTTP(S) URL is not allowed")
    if check_url_syntax(url) is not None:
        raise SourceError("Invalid redirect URL")
    return url


def _get(session: requests.Session, url: str, timeout: float) -> requests.Response:
    try:
        return session.get(url, headers=_HEADERS, stream=True, allow_redirects=False,
                           timeout=(timeout, timeout))
    except SourceError:
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        raise SourceError(_reason_for(exc)) from exc


def _close_session_with(response: requests.Response, session: requests.Session) -> None:
    """Closing the response also closes its private session (no pooled sockets left behind)."""
    close_response = response.close

    def close() -> None:
        try:
            close_response()
        finally:
            session.close()

    response.close = close  # type: ignore[method-assign]


def _declared_length(response: requests.Response) -> int:
    try:
        return int(response.headers.get("Content-Length", "0"))
    except ValueError:
        return 0  # unusable header: the streamed count decides


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """Read at most max_bytes + 1 bytes: enough to tell "too large" without loading more."""
    body = bytearray()
    try:
        while len(body) <= max_bytes:
            chunk = response.raw.read(min(CHUNK_SIZE, max_bytes + 1 - len(body)),
                                      decode_content=True)
            if not chunk:
                return bytes(body)
            body += chunk
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise SourceError(_reason_for(exc)) from exc
    raise SourceError(TOO_LARGE)


def _status_reason(response: requests.Response) -> str:
    """Like requests' raise_for_status text, minus the URL: `404 Client Error: NOT FOUND`."""
    code = response.status_code
    if 400 <= code < 500:
        kind = "Client Error"
    else:
        kind = "Server Error" if code >= 500 else "Unexpected Status"
    phrase = _printable(response.reason or "")[:100] or _standard_phrase(code)
    return f"{code} {kind}: {phrase}".rstrip(": ")


def _standard_phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip()


def _reason_for(exc: BaseException) -> str:
    """A short, stable text for a transport failure (the client sees it in an error message)."""
    chain = _exception_chain(exc)
    for types, text in _REASONS:
        if any(isinstance(e, types) for e in chain):
            return text
    return "Connection failed"


# Most specific first: requests and urllib3 wrap one failure in several exception types.
_REASONS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (requests.exceptions.ConnectTimeout, "Connection timed out"),
    ((requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, socket.timeout),
     "Read timed out"),
    (NameResolutionError, "Name resolution failed"),
    (ConnectionRefusedError, "Connection refused"),
    ((requests.exceptions.SSLError, urllib3.exceptions.SSLError), "SSL error"),
    ((requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
      requests.exceptions.InvalidSchema, urllib3.exceptions.LocationValueError), "Invalid URL"),
    ((urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError,
      urllib3.exceptions.DecodeError), "Connection broken"),
)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` plus everything wrapped in it (requests/urllib3 nest causes in args and .reason)."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 20:
        current = pending.pop()
        if any(current is e for e in seen):
            continue
        seen.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]
        pending.extend(e for e in nested if isinstance(e, BaseException))
    return seen
