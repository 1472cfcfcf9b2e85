"""Fetching from image repositories under the source URL policy (SPEC §7), against a local server.

Nothing here may reach a non-loopback address: every test runs with a guard that fails on any
socket connect outside 127.0.0.0/8 / ::1 and a resolver that never queries DNS, so refusals are
proven to happen before a socket connects.
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import requests
import urllib3
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from chalicelib.adapters import sources
from chalicelib.adapters.sources import (
    Download,
    SourceError,
    SourceNotAllowed,
    fetch_bytes,
    open_download,
)
from chalicelib.domain.urlpolicy import SourcePolicy

LOOPBACK_OK = SourcePolicy(allow_loopback=True)
DEFAULT = SourcePolicy()
NOT_ALLOWED = "Access to this address is not allowed"
TIMEOUT = 2.0
MIB = 1 << 20


# --- fixtures: servers, connect guard, DNS-free resolver ---------------------------------------

@pytest.fixture
def httpserver(loopback_server: HTTPServer) -> HTTPServer:
    """pytest-httpserver's fixture, replaced by the shared 127.0.0.1 server of conftest.py."""
    loopback_server.clear()
    return loopback_server


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every socket connect; a connect to a non-loopback address fails the test."""
    seen: list[str] = []
    real_connect = socket.socket.connect
    test_thread = threading.get_ident()  # the session's local stack has threads of its own

    def guarded_connect(sock: socket.socket, address) -> None:  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else str(address)
        if threading.get_ident() == test_thread:
            seen.append(host)
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise AssertionError(f"connect to non-loopback address {host} attempted")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return seen


@pytest.fixture(autouse=True)
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Fake DNS: names put in this dict resolve to the given addresses; anything else must be a
    numeric host (AI_NUMERICHOST), so no query ever leaves the machine."""
    table: dict[str, list[str]] = {}
    real_getaddrinfo = socket.getaddrinfo

    test_thread = threading.get_ident()

    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
        if threading.get_ident() != test_thread:  # the local stack's own threads
            return real_getaddrinfo(host, port, family, type, proto, flags)
        if host in table:
            answers = table[host]
            if callable(answers):
                answers = answers()
            return [_addrinfo(ip, port) for ip in answers]
        return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return table


def _addrinfo(ip: str, port: int) -> tuple:
    if ":" in ip:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))


def _port(server: HTTPServer) -> int:
    return server.port


def _fetch(url: str, policy: SourcePolicy = LOOPBACK_OK, max_bytes: int = MIB,
           timeout: float = TIMEOUT, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
    return fetch_bytes(url, policy=policy, max_bytes=max_bytes, timeout=timeout, **kwargs)


def _error(url: str, **kwargs) -> SourceError:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceError) as info:
        _fetch(url, **kwargs)
    return info.value


def _download(url: str, policy: SourcePolicy = LOOPBACK_OK,
              timeout: float = TIMEOUT) -> Download:
    return open_download(url, policy=policy, timeout=timeout)


def _read(download: Download, buffer_size: int = 64 * 1024) -> list[bytes]:
    """Everything `download.read_into` gives through one reused buffer, read by read; the
    download is closed."""
    buffer, pieces = bytearray(buffer_size), []
    try:
        while count := download.read_into(memoryview(buffer)):
            pieces.append(bytes(buffer[:count]))
    finally:
        download.close()
    return pieces


# --- allowed and refused -----------------------------------------------------------------------

def test_allowed_fetch_returns_the_body(httpserver: HTTPServer, connects: list[str]) -> None:
    body = b'{"uuid": "x"}'
    httpserver.expect_request("/manifest").respond_with_data(body)
    assert _fetch(httpserver.url_for("/manifest")) == body
    request = httpserver.log[0][0]
    assert request.headers["Accept-Encoding"] == "identity"
    assert connects == ["127.0.0.1"]


def test_same_url_refused_by_default_policy(httpserver: HTTPServer,
                                            connects: list[str]) -> None:
    httpserver.expect_request("/manifest").respond_with_data(b"{}")
    error = _error(httpserver.url_for("/manifest"), policy=DEFAULT)
    assert isinstance(error, SourceNotAllowed)
    assert error.reason == NOT_ALLOWED
    assert str(error) == NOT_ALLOWED
    assert httpserver.log == []
    assert connects == []


def test_allowed_networks_admit_loopback_without_the_flag(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/m").respond_with_data(b"ok")
    policy = SourcePolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    assert _fetch(httpserver.url_for("/m"), policy=policy) == b"ok"


@pytest.mark.parametrize(("status", "text"), [(404, "404 Client Error: NOT FOUND"),
                                              (403, "403 Client Error: FORBIDDEN"),
                                              (500, "500 Server Error: INTERNAL SERVER ERROR"),
                                              (503, "503 Server Error: SERVICE UNAVAILABLE")])
def test_error_status_is_reported(httpserver: HTTPServer, status: int, text: str) -> None:
    httpserver.expect_request("/m").respond_with_data(b"nope", status=status)
    assert _error(httpserver.url_for("/m")).reason == text


def test_non_redirect_3xx_is_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/m").respond_with_data(b"", status=304)
    assert _error(httpserver.url_for("/m")).reason.startswith("304 ")


def test_connection_refused(httpserver: HTTPServer) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert _error(f"http://127.0.0.1:{port}/m").reason == "Connection refused"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/m", "file:///etc/passwd", "127.0.0.1/m", ""])
def test_invalid_initial_url(url: str, connects: list[str]) -> None:
    assert _error(url).reason == "Invalid URL"
    assert connects == []


# --- size cap ----------------------------------------------------------------------------------

def test_body_at_the_cap_is_accepted(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/m").respond_with_data(b"x" * 8192)
    assert _fetch(httpserver.url_for("/m"), max_bytes=8192) == b"x" * 8192


def test_body_over_the_cap_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/m").respond_with_data(b"x" * 8193)
    assert _error(httpserver.url_for("/m"), max_bytes=8192).reason == "Response is too large"


def test_declared_length_over_the_cap_is_refused_unread(httpserver: HTTPServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/m").respond_with_data(b"x" * 100_000)
    reads = _count_reads(monkeypatch)
    assert _error(httpserver.url_for("/m"), max_bytes=8192).reason == "Response is too large"
    assert reads == []


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the body reads made through urllib3 (decoded bytes handed to our code)."""
    sizes: list[int] = []
    test_thread = threading.get_ident()

    def counted(real):  # type: ignore[no-untyped-def]
        def read(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            data = real(self, *args, **kwargs)
            if threading.get_ident() == test_thread:
                sizes.append(len(data))
            return data
        return read

    for name in ("read", "read1"):
        monkeypatch.setattr(urllib3.response.HTTPResponse, name,
                            counted(getattr(urllib3.response.HTTPResponse, name)))
    return sizes


def test_undeclared_length_over_the_cap_reads_at_most_cap_plus_one(
        httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def endless(_: Request) -> Response:
        chunks = (b"y" * 65536 for _ in range(160))  # 10 MiB, no Content-Length
        return Response(chunks, direct_passthrough=True)

    httpserver.expect_request("/m").respond_with_handler(endless)
    reads = _count_reads(monkeypatch)
    assert _error(httpserver.url_for("/m"), max_bytes=8192).reason == "Response is too large"
    assert 0 < sum(reads) <= 8193


# --- redirects ---------------------------------------------------------------------------------

def _redirect(server: HTTPServer, path: str, location: str, status: int = 302) -> None:
    server.expect_request(path).respond_with_data(b"", status=status,
                                                  headers={"Location": location})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_followed(httpserver: HTTPServer, status: int) -> None:
    _redirect(httpserver, "/old", "/new", status)  # relative Location
    httpserver.expect_request("/new").respond_with_data(b"moved")
    assert _fetch(httpserver.url_for("/old")) == b"moved"


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.1/manifest", "http://[fd00::1]/m", "http://[::ffff:169.254.169.254]/m",
    "https://192.168.0.1/m", "http://0.0.0.0/m",
])
def test_redirect_to_internal_address_is_refused_before_connecting(
        httpserver: HTTPServer, connects: list[str], target: str) -> None:
    _redirect(httpserver, "/m", target)
    error = _error(httpserver.url_for("/m"))
    assert isinstance(error, SourceNotAllowed)
    assert error.reason == NOT_ALLOWED
    assert len(httpserver.log) == 1
    assert connects == ["127.0.0.1"]  # the first hop only


def test_every_hop_is_checked_against_the_policy(httpserver: HTTPServer,
                                                connects: list[str]) -> None:
    # Only 127.0.0.1 is trusted here; a hop to another loopback address is not.
    policy = SourcePolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    _redirect(httpserver, "/m", f"http://127.0.0.2:{_port(httpserver)}/secret")
    assert _error(httpserver.url_for("/m"), policy=policy).reason == NOT_ALLOWED
    assert [request.path for request, _ in httpserver.log] == ["/m"]
    assert connects == ["127.0.0.1"]


def test_redirect_to_a_name_resolving_internally_is_refused(
        httpserver: HTTPServer, names: dict, connects: list[str]) -> None:
    names["metadata.test"] = ["169.254.169.254"]
    _redirect(httpserver, "/m", "http://metadata.test/latest/meta-data/")
    assert _error(httpserver.url_for("/m")).reason == NOT_ALLOWED
    assert connects == ["127.0.0.1"]


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/file", "file:///etc/passwd",
                                    "gopher://127.0.0.1:70/", "javascript:alert(1)"])
def test_redirect_to_non_http_scheme_is_refused(httpserver: HTTPServer, connects: list[str],
                                                target: str) -> None:
    _redirect(httpserver, "/m", target)
    error = _error(httpserver.url_for("/m"))
    assert not isinstance(error, SourceNotAllowed)
    assert "non-HTTP(S)" in error.reason
    assert connects == ["127.0.0.1"]


def _chain(server: HTTPServer, hops: int) -> str:
    """/r0 -> /r1 -> ... -> /r<hops> which answers 200; returns the first URL."""
    for i in range(hops):
        _redirect(server, f"/r{i}", server.url_for(f"/r{i + 1}"))
    server.expect_request(f"/r{hops}").respond_with_data(b"end")
    return server.url_for("/r0")


def test_five_redirects_are_followed(httpserver: HTTPServer) -> None:
    assert _fetch(_chain(httpserver, 5)) == b"end"


def test_six_redirects_are_refused(httpserver: HTTPServer) -> None:
    assert _error(_chain(httpserver, 6)).reason == "Exceeded 5 redirects."
    assert len(httpserver.log) == 6  # the sixth redirect is never followed


def test_redirect_loop_is_refused(httpserver: HTTPServer) -> None:
    _redirect(httpserver, "/loop", "/loop")
    assert _error(httpserver.url_for("/loop")).reason == "Exceeded 5 redirects."


def test_error_status_after_redirect(httpserver: HTTPServer) -> None:
    _redirect(httpserver, "/m", "/gone")
    httpserver.expect_request("/gone").respond_with_data(b"", status=404)
    assert _error(httpserver.url_for("/m")).reason == "404 Client Error: NOT FOUND"


# --- timeouts ----------------------------------------------------------------------------------

@pytest.fixture
def client_gave_up() -> Iterator[threading.Event]:
    """Set when the test is over: a slow handler holds its answer until the client has given
    up (the test saw its timeout), not for a guessed time."""
    event = threading.Event()
    yield event
    event.set()


def test_slow_response_times_out(httpserver: HTTPServer, client_gave_up) -> None:
    def slow(_: Request) -> Response:
        client_gave_up.wait(30)
        return Response(b"late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    assert _error(httpserver.url_for("/slow"), timeout=0.5).reason == "Read timed out"


def _stalling(client_gave_up: threading.Event):
    def handler(_: Request) -> Response:
        def body() -> Iterator[bytes]:
            yield b"x" * 1000
            client_gave_up.wait(30)
            yield b"y"

        return Response(body(), direct_passthrough=True)
    return handler


def test_stalled_body_times_out(httpserver: HTTPServer, client_gave_up) -> None:
    httpserver.expect_request("/stall").respond_with_handler(_stalling(client_gave_up))
    assert _error(httpserver.url_for("/stall"), timeout=0.5).reason == "Read timed out"


def test_stalled_download_times_out(httpserver: HTTPServer, client_gave_up) -> None:
    httpserver.expect_request("/stall").respond_with_handler(_stalling(client_gave_up))
    download = _download(httpserver.url_for("/stall"), timeout=0.5)
    with pytest.raises(SourceError) as info:
        _read(download)
    assert info.value.reason == "Read timed out"


def test_timeouts_are_always_passed(httpserver: HTTPServer,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    real_send = sources.PolicyAdapter.send

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("timeout"))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(sources.PolicyAdapter, "send", send)
    httpserver.expect_request("/m").respond_with_data(b"ok")
    _redirect(httpserver, "/r", "/m")
    _fetch(httpserver.url_for("/r"), timeout=3.0)
    assert seen == [(3.0, 3.0), (3.0, 3.0)]


# --- numeric tricks and DNS --------------------------------------------------------------------

TRICKS = ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001", "017700000001"]


@pytest.mark.parametrize("host", TRICKS)
def test_getaddrinfo_normalises_numeric_tricks_to_loopback(host: str) -> None:
    # AI_NUMERICHOST: parsed locally, never looked up in DNS.
    infos = socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM, 0,
                               socket.AI_NUMERICHOST)
    assert {info[4][0] for info in infos} == {"127.0.0.1"}


@pytest.mark.parametrize("host", [*TRICKS, "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"])
def test_numeric_tricks_are_refused(httpserver: HTTPServer, connects: list[str],
                                    host: str) -> None:
    httpserver.expect_request("/m").respond_with_data(b"secret")
    error = _error(f"http://{host}:{_port(httpserver)}/m", policy=DEFAULT)
    assert isinstance(error, SourceNotAllowed)
    assert error.reason == NOT_ALLOWED
    assert connects == []
    assert httpserver.log == []


@pytest.mark.parametrize("host", TRICKS)
def test_numeric_tricks_reach_loopback_when_allowed(httpserver: HTTPServer, host: str) -> None:
    # Proves the tricks really are 127.0.0.1 to the connection code (not just a failed lookup).
    httpserver.expect_request("/m").respond_with_data(b"here")
    assert _fetch(f"http://{host}:{_port(httpserver)}/m") == b"here"


def test_name_is_checked_on_the_address_it_resolves_to(httpserver: HTTPServer,
                                                       names: dict) -> None:
    names["images.test"] = ["127.0.0.1"]
    httpserver.expect_request("/m").respond_with_data(b"named")
    url = f"http://images.test:{_port(httpserver)}/m"
    assert _fetch(url) == b"named"
    assert httpserver.log[0][0].headers["Host"] == f"images.test:{_port(httpserver)}"
    assert _error(url, policy=DEFAULT).reason == NOT_ALLOWED


def test_name_with_any_internal_answer_is_refused(httpserver: HTTPServer, names: dict,
                                                  connects: list[str]) -> None:
    names["mixed.test"] = ["127.0.0.1", "10.0.0.1"]
    httpserver.expect_request("/m").respond_with_data(b"x")
    assert _error(f"http://mixed.test:{_port(httpserver)}/m").reason == NOT_ALLOWED
    assert connects == []


def test_dns_rebinding_is_caught_at_connect_time(httpserver: HTTPServer, names: dict,
                                                 connects: list[str]) -> None:
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    names["rebind.test"] = lambda: next(answers)
    httpserver.expect_request("/m").respond_with_data(b"first")
    url = f"http://rebind.test:{_port(httpserver)}/m"
    assert _fetch(url) == b"first"
    assert _error(url).reason == NOT_ALLOWED  # the second connection resolved elsewhere
    assert connects == ["127.0.0.1"]


def test_unresolvable_name(names: dict) -> None:
    names["nowhere.test"] = []
    assert _error("http://nowhere.test/m").reason == "Name resolution failed"


def test_environment_proxies_are_ignored(httpserver: HTTPServer, connects: list[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy would connect to the proxy's address and bypass the check on the target's.
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://10.9.9.9:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    httpserver.expect_request("/m").respond_with_data(b"direct")
    assert _fetch(httpserver.url_for("/m")) == b"direct"
    assert connects == ["127.0.0.1"]


# --- open_download: image files, read into the caller's buffers ------------------------------

def test_open_download_reads_a_large_body_into_the_callers_buffer(httpserver: HTTPServer) -> None:
    payload = bytes(range(256)) * (5 * MIB // 256)
    httpserver.expect_request("/file").respond_with_data(payload)
    download = _download(httpserver.url_for("/file"))
    assert download.response.status_code == 200
    assert download.response._content is False  # nothing buffered by requests
    assert download.start == 0
    pieces = _read(download, 256 * 1024)
    assert sum(len(piece) for piece in pieces) == len(payload)
    assert hashlib.sha1(b"".join(pieces)).hexdigest() == hashlib.sha1(payload).hexdigest()
    assert len(pieces) >= 20 and max(len(piece) for piece in pieces) <= 256 * 1024


def test_open_download_follows_and_checks_redirects(httpserver: HTTPServer,
                                                    connects: list[str]) -> None:
    _redirect(httpserver, "/file", "/blob")
    httpserver.expect_request("/blob").respond_with_data(b"blob")
    assert b"".join(_read(_download(httpserver.url_for("/file")))) == b"blob"
    _redirect(httpserver, "/evil", "http://169.254.169.254/")
    with pytest.raises(SourceNotAllowed):
        _download(httpserver.url_for("/evil"))
    assert set(connects) == {"127.0.0.1"}


def test_open_download_error_status(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/file").respond_with_data(b"", status=500)
    with pytest.raises(SourceError) as info:
        _download(httpserver.url_for("/file"))
    assert info.value.reason == "500 Server Error: INTERNAL SERVER ERROR"


def test_open_download_refused_by_default_policy(httpserver: HTTPServer,
                                                 connects: list[str]) -> None:
    with pytest.raises(SourceNotAllowed):
        _download(httpserver.url_for("/file"), policy=DEFAULT)
    assert connects == []


def test_download_does_not_decode_content(httpserver: HTTPServer) -> None:
    # A file's SHA-1 is over the bytes as served, even if the server labels them gzip-encoded.
    raw = b"\x1f\x8b not really gzip"
    httpserver.expect_request("/file").respond_with_data(raw, headers={"Content-Encoding": "gzip"})
    assert b"".join(_read(_download(httpserver.url_for("/file")))) == raw


# --- HTTPS: TLS still verifies the URL's host name although we connect to a vetted address -----

@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    directory = tmp_path_factory.mktemp("tls")
    ca_pem, cert_pem, key_pem = _make_certificates("images.test")
    (directory / "ca.pem").write_bytes(ca_pem)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(key_pem)
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)  # type: ignore[assignment]
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context, threaded=True)
    server.start()
    yield {"server": server, "ca": str(directory / "ca.pem"), "sni": server_names}
    server.clear()
    server.stop()


def _make_certificates(hostname: str) -> tuple[bytes, bytes, bytes]:
    """A throw-away CA and a server certificate for `hostname` signed by it (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def test_https_verifies_the_url_host_over_the_vetted_socket(tls: dict, names: dict,
                                                            connects: list[str]) -> None:
    server: HTTPServer = tls["server"]
    server.expect_request("/m").respond_with_data(b"secure")
    names["images.test"] = ["127.0.0.1"]
    tls["sni"].clear()
    url = f"https://images.test:{server.port}/m"
    assert _fetch(url, ca_bundle=tls["ca"]) == b"secure"
    assert tls["sni"] == ["images.test"]
    assert connects == ["127.0.0.1"]


def test_https_host_name_mismatch_is_refused(tls: dict, names: dict) -> None:
    server: HTTPServer = tls["server"]
    server.expect_request("/m").respond_with_data(b"secure")
    names["other.test"] = ["127.0.0.1"]
    assert _error(f"https://other.test:{server.port}/m", ca_bundle=tls["ca"]).reason == "SSL error"


def test_https_untrusted_certificate_is_refused(tls: dict, names: dict) -> None:
    names["images.test"] = ["127.0.0.1"]
    assert _error(f"https://images.test:{tls['server'].port}/m").reason == "SSL error"


def test_https_policy_applies_before_the_handshake(tls: dict, names: dict,
                                                   connects: list[str]) -> None:
    names["images.test"] = ["127.0.0.1"]
    tls["sni"].clear()
    error = _error(f"https://images.test:{tls['server'].port}/m", policy=DEFAULT,
                   ca_bundle=tls["ca"])
    assert error.reason == NOT_ALLOWED
    assert connects == [] and tls["sni"] == []


def test_closing_the_download_closes_its_session(httpserver: HTTPServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Each call owns a session; it must not outlive the response (no pooled sockets left over).
    closed: list[object] = []
    real_close = requests.Session.close
    monkeypatch.setattr(requests.Session, "close",
                        lambda self: (closed.append(self), real_close(self))[-1])
    httpserver.expect_request("/file").respond_with_data(b"data")
    download = _download(httpserver.url_for("/file"))
    assert closed == []
    download.close()
    assert len(closed) == 1
    assert _fetch(httpserver.url_for("/file")) == b"data"
    assert len(closed) == 2


# --- a total deadline, and bodies as sent (issue 9.6, 9.7) ------------------------------------

def _dripping(body: bytes, pause: float, headers_first: bool = True):  # type: ignore[no-untyped-def]
    """A handler that sends `body` a byte at a time, `pause` seconds apart: every single read
    is quick, the whole takes len(body) * pause seconds."""
    def handler(_: Request) -> Response:
        def drip() -> Iterator[bytes]:
            for byte in body:
                yield bytes([byte])
                threading.Event().wait(pause)
        return Response(drip(), direct_passthrough=True)
    return handler


def test_a_dripping_manifest_ends_at_the_total_deadline(loopback_server: HTTPServer) -> None:
    # 200 bytes at 0.1 s each: 20 s in all, while no single read waits more than 0.1 s;
    # before the total deadline this fetch succeeded after 20 s
    loopback_server.expect_request("/drip").respond_with_handler(
        _dripping(b'{"v": 2, "pad": "' + b"x" * 180 + b'"}', 0.1))
    error = _error(loopback_server.url_for("/drip"), timeout=1.0)
    assert error.reason == "Read timed out"


def test_a_compressed_body_is_refused_not_expanded(httpserver: HTTPServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    bomb = gzip.compress(b"\0" * (4 << 20))  # 4 MiB in about 4 KiB: under the cap as sent
    assert len(bomb) < 8192
    httpserver.expect_request("/m").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"})
    reads = _count_reads(monkeypatch)
    error = _error(httpserver.url_for("/m"), max_bytes=8192)
    assert error.reason == sources.COMPRESSED
    assert sum(reads) == 0  # not a byte of it was read, let alone inflated
