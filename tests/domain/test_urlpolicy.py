"""Source URL policy: address classification and URL syntax (SPEC §7)."""
from __future__ import annotations

import ipaddress

import pytest

from chalicelib.domain.urlpolicy import SourcePolicy, check_url_syntax

DEFAULT = SourcePolicy()
LOOPBACK_OK = SourcePolicy(allow_loopback=True)

PUBLIC = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "151.101.1.69",
    "2606:4700:4700::1111", "2a00:1450:4001:82b::200e",
    "::ffff:8.8.8.8",        # IPv4-mapped public address is that public address
    "2002:808:808::1",       # 6to4 embedding 8.8.8.8
]

REFUSED = [
    # loopback
    "127.0.0.1", "127.1.2.3", "::1",
    # private
    "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12:3456::1",
    # link-local, including the cloud metadata service
    "169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0",
    # multicast, broadcast, reserved, unspecified
    "224.0.0.1", "239.255.255.250", "ff02::1", "255.255.255.255", "240.0.0.1",
    "0.0.0.0", "0.1.2.3", "::",
    # site-local, shared address space (CGNAT), benchmarking, documentation
    "fec0::1", "100.64.0.1", "100.127.255.254", "198.18.0.1", "192.0.2.1",
    "198.51.100.7", "203.0.113.9", "2001:db8::1", "3fff::1",
    # IPv4-mapped / IPv4-compatible forms of internal addresses
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1",
    "::8.8.8.8",
    # 6to4 / NAT64 / Teredo forms embedding internal addresses
    "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2002:a00:1::", "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    # not an address at all
    "", "localhost", "2130706433", "0x7f.1", "1.2.3", "not-an-ip",
]


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_are_allowed(ip: str) -> None:
    assert DEFAULT.address_allowed(ip) is True


@pytest.mark.parametrize("ip", REFUSED)
def test_internal_addresses_are_refused(ip: str) -> None:
    assert DEFAULT.address_allowed(ip) is False


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
def test_allow_loopback_admits_loopback(ip: str) -> None:
    assert LOOPBACK_OK.address_allowed(ip) is True


@pytest.mark.parametrize("ip", ["10.0.0.1", "169.254.169.254", "192.168.0.1", "fe80::1",
                                "0.0.0.0", "::", "2002:7f00:1::1", "64:ff9b::7f00:1"])
def test_allow_loopback_admits_nothing_else(ip: str) -> None:
    # Only real loopback addresses; embedded loopback reaches a relay/gateway, not this host.
    assert LOOPBACK_OK.address_allowed(ip) is False


def test_allowed_networks_override_the_refusal() -> None:
    policy = SourcePolicy(allowed_networks=(ipaddress.ip_network("10.1.0.0/16"),
                                            ipaddress.ip_network("fd00:1::/64")))
    assert policy.address_allowed("10.1.2.3") is True
    assert policy.address_allowed("::ffff:10.1.2.3") is True
    assert policy.address_allowed("fd00:1::5") is True
    assert policy.address_allowed("10.2.0.1") is False
    assert policy.address_allowed("fd00:2::5") is False
    assert policy.address_allowed("127.0.0.1") is False
    assert policy.address_allowed("8.8.8.8") is True


def test_allowed_networks_can_admit_loopback_without_the_flag() -> None:
    policy = SourcePolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    assert policy.address_allowed("127.0.0.1") is True
    assert policy.address_allowed("::1") is False


def test_policy_is_hashable_and_immutable() -> None:
    policy = SourcePolicy(allow_loopback=True)
    assert hash(policy) == hash(SourcePolicy(allow_loopback=True))
    with pytest.raises(AttributeError):
        policy.allow_loopback = False  # type: ignore[misc]


@pytest.mark.parametrize("url", [
    "http://example.com", "https://example.com/", "HTTPS://Example.COM/path?q=1#frag",
    "http://images.example.com:8080/images/3a4f/", "http://user:pw@example.com/x",
    "http://ex_ample.com/", "http://xn--bcher-kva.example/", "http://bücher.example/",
    "http://localhost:8000/", "http://127.0.0.1/", "http://[::1]:8080/", "http://[2001:db8::1]/",
    # numeric tricks are syntactically fine: the address policy refuses them at connect time
    "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/",
    "http://example.com/" + "a" * 1000,
])
def test_valid_urls(url: str) -> None:
    assert check_url_syntax(url) is None


@pytest.mark.parametrize("url", [
    "", "example.com", "//example.com/", "ftp://example.com/", "file:///etc/passwd",
    "gopher://example.com/", "javascript:alert(1)", "http://", "http:///path", "http://:80/",
    "http://exa mple.com/", "http://example.com/a b", " http://example.com/",
    "http://example.com/\n", "http://example.com\t/", "http://example.com:0/",
    "http://example.com:99999/", "http://example.com:port/", "http://[::1/", "http://[zz::1]/",
    "http://::1/", "http://exa$mple.com/", "http://a..b/",
    "http://" + "a" * 64 + ".com/",
])
def test_invalid_urls(url: str) -> None:
    assert check_url_syntax(url) == "Enter a valid URL."


def test_length_limit_is_1024() -> None:
    url = "http://example.com/"
    at_limit = url + "a" * (1024 - len(url))
    assert check_url_syntax(at_limit) is None
    assert check_url_syntax(at_limit + "a") == (
        "Ensure this value has at most 1024 characters (it has 1025).")
