"""HTTP connections that enforce the source URL policy (SPEC §7) where it cannot be fooled.

The address check runs when a socket is about to connect, on the addresses the host actually
resolved to, for every connection (each redirect hop included). Checking the URL beforehand and
letting the HTTP library resolve the name again would let a DNS answer that changes between the
two lookups (DNS rebinding) reach internal services such as the cloud metadata endpoint.
"""
from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from chalicelib.config import load, settings
from chalicelib.domain.urlpolicy import SourcePolicy

NOT_ALLOWED = "Access to this address is not allowed"


class SourceError(Exception):
    """A source could not be fetched; `reason` is the short text shown to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceNotAllowed(SourceError):
    """The URL resolves to an address the policy refuses (refused before connecting)."""

    def __init__(self, reason: str = NOT_ALLOWED) -> None:
        super().__init__(reason)


class Deadline:
    """A total time budget for the HTTP exchanges made inside `total_deadline(...)`. Socket
    timeouts bound each read, not the whole: a server that drips a byte every few seconds would
    hold a request for as long as it likes. When the budget is spent, every socket opened under
    it is shut down, which ends any read blocked on it at once."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


_current_deadline: ContextVar[Deadline | None] = ContextVar("source_deadline", default=None)


@contextmanager
def total_deadline(seconds: float) -> Iterator[Deadline]:
    """Every connection opened in this block (this thread) ends when `seconds` have passed."""
    deadline = Deadline(seconds)
    token = _current_deadline.set(deadline)
    deadline._timer.start()
    try:
        yield deadline
    finally:
        deadline._timer.cancel()
        _current_deadline.reset(token)


class _PolicyHTTPConnection(HTTPConnection):
    """Replaces urllib3's connect: resolve, refuse unless every address is allowed, connect."""

    source_policy: SourcePolicy  # set on the per-policy subclasses made by _pool_classes()

    def _new_conn(self) -> socket.socket:
        addresses = self._resolve()
        # Every address must pass: a host mixing public and internal answers is refused outright.
        if not all(self.source_policy.address_allowed(sa[0]) for *_, sa in addresses):
            raise SourceNotAllowed()
        return self._connect_first(addresses)

    def _resolve(self) -> list[Any]:
        host = self._dns_host.strip("[]")  # keeps a trailing dot, as urllib3 does for lookups
        try:
            addresses = socket.getaddrinfo(host, self.port, allowed_gai_family(),
                                           socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise NameResolutionError(self.host, self, socket.gaierror(str(exc))) from exc
        if not addresses:
            raise NameResolutionError(self.host, self, socket.gaierror("no addresses"))
        return addresses

    def _connect_first(self, addresses: list[Any]) -> socket.socket:
        """Like socket.create_connection, but only to the already vetted addresses."""
        last_error: OSError | None = None
        for family, socktype, proto, _, sockaddr in addresses:
            sock = socket.socket(family, socktype, proto)
            try:
                self._prepare(sock)
                deadline = _current_deadline.get()
                if deadline is not None:
                    deadline.track(sock)
                sock.connect(sockaddr)
                return sock
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
            except OSError as exc:
                sock.close()
                last_error = exc
        raise NewConnectionError(
            self, f"Failed to establish a new connection: {last_error}") from last_error

    def _prepare(self, sock: socket.socket) -> None:
        for option in self.socket_options or ():
            sock.setsockopt(*option)
        if self.timeout is None or isinstance(self.timeout, (int, float)):  # else: a sentinel
            sock.settimeout(self.timeout)
        if self.source_address:
            sock.bind(self.source_address)


class _PolicyHTTPSConnection(_PolicyHTTPConnection, HTTPSConnection):
    """TLS is layered on the vetted socket by HTTPSConnection.connect, with SNI and hostname
    verification against the URL's host (not the address)."""


@functools.lru_cache(maxsize=16)
def _pool_classes(policy: SourcePolicy) -> dict[str, type]:
    """urllib3 pool classes whose connections enforce `policy` (cached: policies are few)."""
    attrs = {"source_policy": policy}
    http_conn = type("PolicyHTTPConnection", (_PolicyHTTPConnection,), attrs)
    https_conn = type("PolicyHTTPSConnection", (_PolicyHTTPSConnection,), attrs)
    return {
        "http": type("PolicyHTTPConnectionPool", (HTTPConnectionPool,),
                     {"ConnectionCls": http_conn}),
        "https": type("PolicyHTTPSConnectionPool", (HTTPSConnectionPool,),
                      {"ConnectionCls": https_conn}),
    }


class PolicyAdapter(HTTPAdapter):
    """A requests transport adapter whose every connection is checked against a SourcePolicy."""

    def __init__(self, policy: SourcePolicy) -> None:
        self.source_policy = policy  # needed by init_poolmanager, which __init__ calls
        super().__init__()  # requests' default: no retries; redirects are ours

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_pool_classes(self.source_policy))

    def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
        # Through a proxy only the proxy's address would be checked, never the target's.
        raise SourceError("Proxies are not supported")


def configured_policy() -> SourcePolicy:
    """The deployment's policy: public addresses, plus what the operator allowed."""
    cfg = settings()
    return SourcePolicy(allow_loopback=cfg.source_allow_loopback,
                        allowed_networks=cfg.source_allow_networks)


def new_session(policy: SourcePolicy, ca_bundle: str | None = None) -> requests.Session:
    """A requests session whose every connection is checked against `policy`."""
    session = requests.Session()
    # No proxies or .netrc from the environment: a proxy would be the only address checked.
    session.trust_env = False
    # ...but keep honouring a CA bundle configured the usual way (trust_env=False drops it).
    session.verify = ca_bundle or load().requests_ca_bundle or True
    adapter = PolicyAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
