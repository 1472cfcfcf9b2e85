"""A local API Gateway: serves the app's routes under the stage path (`/api/...`).

Requests go through Chalice's own LocalGateway (the same event shape API Gateway sends).
Like the deployed gateway's MISSING_AUTHENTICATION_TOKEN response, an unknown route is a 404.
"""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from chalicelib.api.http import NOT_FOUND_BODY, envelope_headers
from devstack import gateway_limits

NOT_FOUND = json.dumps(NOT_FOUND_BODY).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; the app logs what matters
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if gateway_limits.body_too_large(length):  # AWS's limits: devstack/gateway_limits.py
            gateway_limits.discard(self.rfile, length)
            return self._send(*gateway_limits.REQUEST_TOO_LARGE)
        body = self.rfile.read(length) if length > 0 else None
        if gateway_limits.event_too_large(body):
            return self._send(*gateway_limits.REQUEST_TOO_LARGE)
        prefix = self.server.stage_prefix
        path = self.path
        if not (path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?")):
            return self._send(404, envelope_headers(), NOT_FOUND)
        path = path[len(prefix):] or "/"
        if path.startswith("?"):
            path = "/" + path
        try:
            response = gateway_limits.call_integration(lambda: self.server.gateway.handle_request(
                method=self.command, path=path, headers=dict(self.headers), body=body))
        except gateway_limits.IntegrationTimeout:
            return self._send(*gateway_limits.TIMED_OUT)
        except LocalGatewayException as exc:
            if exc.CODE == 403 and b"Missing Authentication Token" in (exc.body or b"") \
                    or b"Authorization header requires" in (exc.body or b""):
                return self._send(404, envelope_headers(), NOT_FOUND)
            return self._send(exc.CODE, exc.headers, exc.body or b"")
        if gateway_limits.response_too_large(response):
            return self._send(*gateway_limits.RESPONSE_TOO_LARGE)
        headers = dict(response.get("headers") or {})
        payload = response.get("body") or b""
        if response.get("isBase64Encoded"):  # as API Gateway does for binary media types
            payload = base64.b64decode(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        self._send(response["statusCode"], headers, payload)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    # The standard library's backlog of 5 makes a burst of new connections wait a second
    # for the kernel's retry; API Gateway accepts bursts.
    request_queue_size = 128

    def __init__(self, app: Any, host: str, port: int, stage_prefix: str = "/api") -> None:
        super().__init__((host, port), _Handler)
        self.gateway = LocalGateway(app, Config(chalice_stage="local"))
        self.stage_prefix = stage_prefix
        self._thread: threading.Thread | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is not an error of the stack (the default prints a trace)."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{self.stage_prefix}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
