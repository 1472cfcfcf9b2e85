"""Source URL policy (SPEC §7): which URLs and which resolved addresses may be fetched.

Pure logic, no I/O. The address check is applied by `chalicelib.sources` to every address a host
resolves to, at connect time, so DNS tricks cannot route a fetch to an internal service.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.domain.field_texts import INVALID_URL, max_length

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

URL_MAX_LENGTH = 1024
ALLOWED_SCHEMES = frozenset({"http", "https"})

# IANA special-purpose ranges that are never a public image repository. Listed explicitly because
# the stdlib `is_global`/`is_private` answers differ between Python patch releases (e.g. fec0::/10,
# 2002::/16 and 64:ff9b::/96 count as global on 3.11.7); the stdlib flags are checked as well.
_SPECIAL_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))
_SPECIAL_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/96",           # unspecified, loopback and deprecated IPv4-compatible addresses
    "::ffff:0:0/96",   # IPv4-mapped (normally unwrapped before this check)
    "64:ff9b:1::/48",  # local-use NAT64
    "100::/64",        # discard-only
    "2001::/23",       # IETF protocol assignments (Teredo, ORCHID, benchmarking, ...)
    "2001:db8::/32", "3fff::/20",  # documentation
    "5f00::/16",       # SRv6 SIDs
    "fc00::/7",        # unique local
    "fe80::/10",       # link-local
    "fec0::/10",       # site-local (deprecated)
    "ff00::/8",        # multicast
))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Host part of a URL: DNS labels (IDN allowed), or an IP literal handled separately.
_HOST_RE = re.compile(r"(?:[\w-]{1,63}\.)*[\w-]{1,63}\.?")
_BAD_URL_CHARS_RE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class SourcePolicy:
    """Which resolved addresses a source fetch may connect to."""

    allow_loopback: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()  # networks an operator explicitly trusts

    def address_allowed(self, ip: str) -> bool:
        """True if `ip` (a numeric address as returned by getaddrinfo) may be connected to."""
        addr = _parse_address(ip)
        if addr is None:
            return False
        if any(addr in net for net in self.allowed_networks):
            return True
        if addr.is_loopback:
            return self.allow_loopback
        return _is_public(addr)


def _parse_address(ip: str) -> IPAddress | None:
    """Parse a numeric address; IPv4-mapped IPv6 is unwrapped since it *is* that IPv4 host."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:  # zone index ("fe80::1%eth0"): only meaningful for link-local
            addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
    return addr


def _is_public(addr: IPAddress) -> bool:
    """Globally routable, and so is any IPv4 address embedded in it (6to4, NAT64)."""
    if (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast
            or addr.is_reserved or addr.is_unspecified or not addr.is_global):
        return False
    if isinstance(addr, ipaddress.IPv4Address):
        return not any(addr in net for net in _SPECIAL_V4)
    if addr.is_site_local or any(addr in net for net in _SPECIAL_V6):
        return False
    embedded = _embedded_ipv4(addr)
    return embedded is None or _is_public(embedded)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host a 6to4 or well-known-prefix NAT64 address actually reaches."""
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def check_url_syntax(url: str) -> str | None:
    """None if `url` is an acceptable source URL, else the DRF-style error message.

    Deliberately lenient about the host (numeric forms such as `http://2130706433/` pass): the
    address policy refuses them at connect time with the more useful "not allowed" reason.
    Leading/trailing whitespace is not stripped here (the serializer trims input first).
    """
    if len(url) > URL_MAX_LENGTH:
        return max_length(URL_MAX_LENGTH, len(url))
    return None if _url_syntax_ok(url) else INVALID_URL


def _url_syntax_ok(url: str) -> bool:
    if _BAD_URL_CHARS_RE.search(url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not host or port == 0:
        return False
    return _host_ok(host, bracketed="[" in parts.netloc)


def _host_ok(host: str, *, bracketed: bool) -> bool:
    if bracketed or ":" in host:  # IPv6 literal, must be in brackets and valid
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return bracketed
    return len(host) <= 253 and _HOST_RE.fullmatch(host) is not None
