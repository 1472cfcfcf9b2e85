"""The local gateway's own answers, as the deployed gateway responses give them
(infra/gateway_responses.py): `{"detail": <text>}` in the API's envelope, never the standard
library's HTML error page.

Before a request is whole, http.server refuses it on its own (`send_error`): header lines too
long or too many (431), an unknown method such as TRACE (501), a malformed request line
(400), a request line too long (414), an HTTP version it does not speak (505). Those answers
say the status's standard phrase: the request named nothing the app could answer for.
"""
from __future__ import annotations

import json
from http import HTTPStatus

Answer = tuple[int, dict[str, str], bytes]


def own_answer(status: int, detail: str) -> Answer:
    """The gateway's answer; the gateway adds the envelope headers when it sends it."""
    return status, {"Content-Type": "application/json"}, json.dumps({"detail": detail}).encode()


def protocol_error(status: int) -> Answer:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Bad Request"
    return own_answer(status, phrase)
