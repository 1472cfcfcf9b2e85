"""Why fetching a URL failed, in the short words a client reads inside a task or field error
(`Could not download image file (<reason>)`, `Image manifest URL is unreachable (<reason>)`).
Scripts match these: they change only on purpose (tests/domain/test_texts.py)."""
from __future__ import annotations

TOO_LARGE = "Response is too large"
TRUNCATED = "Connection broken"
TIMED_OUT = "Read timed out"
COMPRESSED = "Response is compressed (Content-Encoding) although identity was asked for"
CONNECT_TIMED_OUT = "Connection timed out"
NAME_RESOLUTION = "Name resolution failed"
REFUSED = "Connection refused"
SSL = "SSL error"
INVALID_URL = "Invalid URL"
CONNECTION_FAILED = "Connection failed"
NON_HTTP_REDIRECT = "Redirect to a non-HTTP(S) URL is not allowed"
INVALID_REDIRECT = "Invalid redirect URL"
RANGE_MISPLACED = "Range answered from another position"


def too_many_redirects(limit: int) -> str:
    return f"Exceeded {limit} redirects."
