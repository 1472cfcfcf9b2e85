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
from chalice.local import LocalGatewayException

from chalicelib.api.http import NOT_FOUND_BODY, envelope_headers
from chalicelib.domain import imgapi
from chalicelib.domain.console_files import ROUTE_PREFIX
from devstack import gateway_answers, gateway_limits, imgapi_edge
from devstack.iam.acting import acting_as
from devstack.iam.policies import API_FUNCTION, IMGAPI_EDGE
from devstack.peer_gateway import PeerAddressGateway

NOT_FOUND = json.dumps(NOT_FOUND_BODY).encode()
STARTING_BODY = json.dumps({"detail": "The local stack is still starting"}).encode()


_ANSWERED = object()  # a refusal was sent: nothing more to do


def console_path(path: str) -> bool:
    """`/console/…` outside the stage: the local stack serves the stage's console there too
    (deployed it is `<stage>/console/`)."""
    return path.split("?")[0] == ROUTE_PREFIX or path.startswith(ROUTE_PREFIX + "/")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; the app logs what matters
        pass

    def _handle(self) -> None:
        body = self._body_within_limits()
        if body is _ANSWERED:
            return
        path = self._api_path()
        if path is None:
            return
        if not self.server.ready.is_set() and path.split("?")[0].rstrip("/") == "/ping":
            # the API serves before the stack has finished starting (the state file
            # `./imagectl` reads is written after it): ping, what scripts wait on, says so
            return self._send(503, {**envelope_headers(), "Retry-After": "1"}, STARTING_BODY)
        self._integrate(path, body if isinstance(body, bytes) else None)

    def _body_within_limits(self) -> bytes | None | object:
        """The request's body, or _ANSWERED once it was refused (AWS's limits:
        devstack/gateway_limits.py)."""
        length = int(self.headers.get("content-length") or 0)
        if gateway_limits.body_too_large(length):
            gateway_limits.discard(self.rfile, length)
            self._send(*gateway_limits.REQUEST_TOO_LARGE)
            return _ANSWERED
        body = self.rfile.read(length) if length > 0 else None
        if gateway_limits.event_too_large(body):
            self._send(*gateway_limits.REQUEST_TOO_LARGE)
            return _ANSWERED
        return body

    def _api_path(self) -> str | None:
        """The route path under the stage (or the IMGAPI base); None once answered here (an
        image file the edge streamed, a path outside the stage)."""
        prefix = self.server.stage_prefix
        path = self.path
        if imgapi_edge.serves(path):  # the IMGAPI base: what CloudFront serves in AWS
            uuid = imgapi_edge.file_uuid(path)
            if uuid:
                with acting_as(IMGAPI_EDGE):  # as the distribution's OAC, which the bucket
                    imgapi_edge.serve_file(self, uuid)  # policy lets read images/*
                return None
            prefix = ""  # the JSON paths: the API's routes under the base, unprefixed
        elif console_path(path):  # the console: also at the root, as SPEC §13 names it
            prefix = ""
        elif not (path == prefix or path.startswith(prefix + "/")
                  or path.startswith(prefix + "?")):
            self._send(404, envelope_headers(), NOT_FOUND)
            return None
        path = path[len(prefix):] or "/"
        return "/" + path if path.startswith("?") else path

    def _integrate(self, path: str, body: bytes | None) -> None:
        try:
            # the API function's role signs its AWS calls (the integration's thread inherits it)
            with acting_as(API_FUNCTION):
                response = gateway_limits.call_integration(
                    lambda: self.server.gateway.handle_request_from(
                        self.client_address[0], self.command, path, dict(self.headers), body))
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

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """http.server's own refusals (431, 501, ...) as JSON: devstack/gateway_answers.py."""
        self.close_connection = True
        self._send(*gateway_answers.protocol_error(code))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        if "es_version" not in headers:  # the gateway's own answers carry the envelope too
            headers = {**envelope_headers(), **headers}
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
        self.gateway = PeerAddressGateway(app, Config(chalice_stage="local"),
                                          stage_prefix=stage_prefix)
        self.stage_prefix = stage_prefix
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None

    def mark_ready(self) -> None:
        """The whole stack is up: ping answers `pong` from now on."""
        self.ready.set()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is not an error of the stack (the default prints a trace)."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{self.stage_prefix}"

    @property
    def console_url(self) -> str:
        """The operators' console (SPEC §13), served by the app at the root's /console/."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{ROUTE_PREFIX}/"

    @property
    def imgapi_url(self) -> str:
        """The IMGAPI base compute nodes' `imgadm` is given (devstack/imgapi_edge.py)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{imgapi.BASE_PATH}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
