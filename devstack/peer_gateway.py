"""Chalice's LocalGateway with API Gateway's `requestContext.identity.sourceIp` filled from the
connection's peer address (Chalice puts 127.0.0.1 there for every request). Like API
Gateway's, it comes from the connection, never from a header the client sets: the login
throttle counts attempts per client address by it."""
from __future__ import annotations

import threading
from typing import Any

from chalice.local import LocalGateway


class PeerAddressGateway(LocalGateway):
    def __init__(self, *args: Any, stage_prefix: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stage_prefix = stage_prefix  # requestContext.path starts with it, as in AWS
        self._request = threading.local()  # the address of the request this thread serves

    def handle_request_from(self, source_ip: str, method: str, path: str,
                            headers: dict[str, str], body: bytes | None) -> Any:
        """`handle_request` for a client at `source_ip` (call it in the thread that runs the
        request: the address is the thread's own)."""
        self._request.source_ip = source_ip
        try:
            return self.handle_request(method=method, path=path, headers=headers, body=body)
        finally:
            del self._request.source_ip

    def _generate_lambda_event(self, method: str, path: str, headers: Any,
                               body: bytes | None) -> Any:
        event = super()._generate_lambda_event(method, path, headers, body)
        # API Gateway's requestContext.path is the path the client asked for, stage included
        # (Chalice's has the route's path only): the console computes the API's base from it
        event["requestContext"]["path"] = self.stage_prefix + path.split("?")[0]
        source_ip = getattr(self._request, "source_ip", None)
        if source_ip:
            event["requestContext"]["identity"]["sourceIp"] = source_ip
        return event
