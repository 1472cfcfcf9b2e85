"""Fetching manifests and image files from image repositories under the source URL policy
(SPEC §7): redirects followed and re-checked one by one, bodies capped or streamed, transport
failures turned into short reasons a client can read. The address check itself is in
`guarded_http`, at connect time.
"""
from __future__ import annotations

import http
import http.client
import re
import socket
from dataclasses import dataclass
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
    total_deadline,
)
from chalicelib.domain import source_texts as texts
from chalicelib.domain.urlpolicy import ALLOWED_SCHEMES, SourcePolicy, check_url_syntax

MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
# the failure texts (the names this module always had, for its callers)
TOO_LARGE, TRUNCATED, TIMED_OUT, COMPRESSED = (texts.TOO_LARGE, texts.TRUNCATED,
                                               texts.TIMED_OUT, texts.COMPRESSED)
# Ask for the bytes as stored: a file's SHA-1 is over the raw bytes, and nothing is decompressed.
_HEADERS = {"Accept-Encoding": "identity"}


# --- public API ---------------------------------------------------------------------------------

def fetch_bytes(url: str, *, policy: SourcePolicy, max_bytes: int, timeout: float,
                ca_bundle: str | None = None) -> bytes:
    """GET `url` (following checked redirects) and return a body of at most `max_bytes` bytes,
    all of it within `timeout` seconds (connects, redirects and reads together)."""
    with total_deadline(timeout) as deadline:
        try:
            response = _open_stream(url, policy=policy, timeout=timeout, ca_bundle=ca_bundle)
            with response:
                if _declared_length(response) > max_bytes:
                    raise SourceError(TOO_LARGE)
                return _read_capped(response, max_bytes)
        except SourceError:
            if deadline.expired:
                raise SourceError(TIMED_OUT) from None
            raise


@dataclass
class Download:
    """An open file download: `read_into` fills the caller's buffers straight from the socket.

    `start` is where the body starts in the file: the offset asked for, or 0 when the source
    sent the whole file instead (it ignores Range, or its validator changed). `validator` is
    what a later range request names in `If-Range` (a strong ETag, else Last-Modified).
    """

    response: requests.Response
    start: int
    validator: str | None
    accepts_ranges: bool

    def read_into(self, view: memoryview) -> int:
        raw = self.response.raw
        try:
            if raw is None:  # nothing left to send (a range at the end of the file)
                return 0
            target = getattr(raw, "_fp", None)  # http.client: no copy through urllib3's read
            if target is None:
                return int(raw.readinto(view))
            count = int(target.readinto(view))
            if count == 0 and view.nbytes and getattr(target, "length", None):
                raise SourceError(TRUNCATED)  # closed before its Content-Length was sent
            return count
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                http.client.HTTPException) as exc:
            raise SourceError(_reason_for(exc)) from exc

    def close(self) -> None:
        self.response.close()


def open_download(url: str, *, policy: SourcePolicy, timeout: float, start: int = 0,
                  validator: str | None = None, probe: bool = False) -> Download:
    """GET `url` from byte `start` (with `If-Range: validator` when given); redirects are
    followed and checked as for every source. A range the source answers with a different
    start is refused (SourceError): only an exact continuation or the whole file is used.
    `probe` asks for the first byte only."""
    headers = {}
    if start or probe:
        headers["Range"] = f"bytes={start}-{start}" if probe else f"bytes={start}-"
        if validator:
            headers["If-Range"] = validator
    session = new_session(policy, None)
    try:
        response = _follow_redirects(session, url, timeout, headers, accept=(416,))
    except BaseException:
        session.close()
        raise
    _close_session_with(response, session)
    return _download_from(response, start)


def serves_ranges(url: str, *, policy: SourcePolicy, timeout: float,
                  validator: str | None) -> bool:
    """Whether the source answers a range request with that range (a one-byte probe, for a
    source that does not say so in `Accept-Ranges`)."""
    try:
        download = open_download(url, policy=policy, timeout=timeout, start=0,
                                 validator=validator, probe=True)
    except SourceError:
        return False
    download.close()
    return download.accepts_ranges and download.response.status_code == 206


def _download_from(response: requests.Response, start: int) -> Download:
    accepts = "bytes" in response.headers.get("Accept-Ranges", "").lower()
    validator = _validator(response)
    if response.status_code == 416 and _range_total(response) == start:
        response.close()  # the file ends exactly where the last run stopped
        response.raw = None
        return Download(response, start, validator, True)
    if response.status_code == 206:
        if _range_start(response) != start:
            response.close()
            raise SourceError(texts.RANGE_MISPLACED)
        return Download(response, start, validator, True)
    if response.status_code == 416:
        response.close()
        raise SourceError(_status_reason(response))
    return Download(response, 0, validator, accepts)


def _validator(response: requests.Response) -> str | None:
    etag = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator
        return etag
    return response.headers.get("Last-Modified") or None


def _range_start(response: requests.Response) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _range_total(response: requests.Response) -> int | None:
    match = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


# --- helpers ------------------------------------------------------------------------------------

def _open_stream(url: str, *, policy: SourcePolicy, timeout: float,
                 ca_bundle: str | None = None) -> requests.Response:
    """A 2xx streaming response for `url` (redirects followed and checked); the caller closes it
    (the body is not buffered here)."""
    session = new_session(policy, ca_bundle)
    try:
        response = _follow_redirects(session, url, timeout)
    except BaseException:
        session.close()
        raise
    _close_session_with(response, session)
    return response


def _follow_redirects(session: requests.Session, url: str, timeout: float,
                      headers: dict[str, str] | None = None,
                      accept: tuple[int, ...] = ()) -> requests.Response:
    """GET with manual redirects so every hop is re-validated (and counted). A 2xx, or one
    of the `accept`ed statuses, is the answer."""
    _check_first_url(url)
    for _ in range(MAX_REDIRECTS + 1):
        response = _get(session, url, timeout, headers)
        target = session.get_redirect_target(response)
        if target is None:
            if 200 <= response.status_code < 300 or response.status_code in accept:
                return response
            response.close()
            raise SourceError(_status_reason(response))
        response.close()
        url = _check_redirect_target(urljoin(url, target))
    raise SourceError(texts.too_many_redirects(MAX_REDIRECTS))


def _check_first_url(url: str) -> None:
    if check_url_syntax(url) is not None:
        raise SourceError(texts.INVALID_URL)


def _check_redirect_target(url: str) -> str:
    if urlsplit(url).scheme.lower() not in ALLOWED_SCHEMES:
        raise SourceError(texts.NON_HTTP_REDIRECT)
    if check_url_syntax(url) is not None:
        raise SourceError(texts.INVALID_REDIRECT)
    return url


def _get(session: requests.Session, url: str, timeout: float,
         headers: dict[str, str] | None = None) -> requests.Response:
    try:
        return session.get(url, headers={**_HEADERS, **(headers or {})}, stream=True,
                           allow_redirects=False, timeout=(timeout, timeout))
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
    """Read at most max_bytes + 1 bytes: enough to tell "too large" without loading more.
    Bytes as sent: a compressed body (asked for identity, got gzip) could expand a thousandfold
    in memory before any cap applied, so it is refused."""
    if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        raise SourceError(COMPRESSED)
    body = bytearray()
    try:
        while len(body) <= max_bytes:
            chunk = response.raw.read1(min(CHUNK_SIZE, max_bytes + 1 - len(body)),
                                       decode_content=False)
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
    return texts.CONNECTION_FAILED


# Most specific first: requests and urllib3 wrap one failure in several exception types.
_REASONS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (requests.exceptions.ConnectTimeout, texts.CONNECT_TIMED_OUT),
    ((requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, socket.timeout),
     texts.TIMED_OUT),
    (NameResolutionError, texts.NAME_RESOLUTION),
    (ConnectionRefusedError, texts.REFUSED),
    ((requests.exceptions.SSLError, urllib3.exceptions.SSLError), texts.SSL),
    ((requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
      requests.exceptions.InvalidSchema, urllib3.exceptions.LocationValueError),
     texts.INVALID_URL),
    ((urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError,
      urllib3.exceptions.DecodeError, http.client.HTTPException), texts.TRUNCATED),
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
