"""The local gateway's own answers are JSON `{"detail": ...}` in the envelope, as the deployed
gateway responses are (infra/gateway_responses.py, issue 18.10): also where http.server
refuses a request before it is whole (431 header fields too large, 501 an unknown method)."""
from __future__ import annotations

import socket

import pytest
from chalice import Chalice

from devstack.gateway import ApiServer


@pytest.fixture(scope="module")
def gateway():
    app = Chalice(app_name="own-answers-toy")

    @app.route("/ping")
    def ping() -> dict:
        return {"result": "pong"}

    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    server.mark_ready()  # no stack to wait for: ping is the app's at once
    yield server.server_address[:2]
    server.stop()


def _exchange(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (read to the close)."""
    with socket.create_connection(address, timeout=30) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def _assert_own_answer(answer: tuple[int, dict[str, str], bytes], status: int,
                       detail: str) -> None:
    got_status, headers, body = answer
    assert (got_status, body) == (status, b'{"detail": "%s"}' % detail.encode()), answer
    assert headers["content-type"] == "application/json"
    assert {"es_version", "es_dc", "es_username"} <= set(headers)
    assert int(headers["content-length"]) == len(body)


def test_a_header_line_too_long_is_431(gateway):
    request = (b"GET /api/ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    _assert_own_answer(_exchange(gateway, request), 431, "Request Header Fields Too Large")


def test_too_many_header_fields_is_431(gateway):
    fields = b"".join(b"X-F%d: 1\r\n" % n for n in range(120))
    request = b"GET /api/ping HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
    _assert_own_answer(_exchange(gateway, request), 431, "Request Header Fields Too Large")


@pytest.mark.parametrize("method", [b"TRACE", b"CONNECT", b"BREW"])
def test_an_unknown_method_is_501(gateway, method):
    request = method + b" /api/ping HTTP/1.1\r\nHost: x\r\n\r\n"
    _assert_own_answer(_exchange(gateway, request), 501, "Not Implemented")


def test_a_malformed_request_line_is_400(gateway):
    answer = _exchange(gateway, b"GET /api/ping extra HTTP/1.1\r\n\r\n")
    _assert_own_answer(answer, 400, "Bad Request")


def test_a_well_formed_request_is_the_apps(gateway):
    status, headers, body = _exchange(
        gateway, b"GET /api/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (status, body) == (200, b'{"result":"pong"}')
