"""SSRF guard: which addresses an outgoing request may reach.

Refused unless exempt: loopback, private (RFC 1918), link-local (169.254/16, where cloud
metadata lives; fe80::/10), CGNAT (100.64/10), ULA (fc00::/7), site-local, multicast,
unspecified, reserved and documentation ranges, IPv4-mapped and IPv4-compatible IPv6, and
6to4/Teredo/NAT64 addresses that embed a refused IPv4 address; any scheme but http(s).

Exemptions come only from settings.GATEWAY_ALLOWED_HOSTS (names, IPs or CIDR networks), i.e.
from whoever deploys, never from an admin user: a connection's own allowed hosts widen which
hosts it may *talk to*, not which address ranges it may reach.

Hosts are resolved once per connection and the socket connects to the checked address
(transport.py), so DNS rebinding between check and connect is not possible."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from .errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = ("http", "https")

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_V4_COMPAT = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be reached (None when it is a public unicast address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if ip in _V4_COMPAT and not ip.is_unspecified and not ip.is_loopback:
            return "an IPv4-compatible IPv6 address"
        nat64 = ip in _NAT64
        embedded: ipaddress.IPv4Address | None
        if nat64:  # DNS64 networks reach every IPv4 host this way: judge the embedded one
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        else:
            embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        why = blocked_reason(embedded) if embedded is not None else None
        if why or nat64:
            return why and f"an IPv6 address embedding {embedded} ({why})"
        if ip.is_site_local:
            return "a site-local address"
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (cloud metadata lives here)"),
        (ip.is_multicast, "a multicast address"),
        (ip in _CGNAT, "a carrier-grade NAT address (100.64.0.0/10)"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a globally routable address"),
    )
    return next((why for hit, why in checks if hit), None)


def parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class HostPolicy:
    """The exemptions in force; build it with `from_settings()`."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls) -> HostPolicy:
        return cls.from_entries(getattr(settings, "GATEWAY_ALLOWED_HOSTS", []))

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> HostPolicy:
        names, networks = set(), []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def name_exempt(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def refusal(self, host: str, ip: IPAddress) -> str | None:
        """Why connecting to `ip` (resolved from `host`) is refused, or None."""
        if self.name_exempt(host) or any(ip in net for net in self.networks):
            return None
        why = blocked_reason(ip)
        if why is None:
            return None
        return f"{host} is {why}" if parse_ip(host) == ip else f"{host} resolves to {ip}, {why}"

    def resolve(self, host: str, port: int) -> list[tuple[socket.AddressFamily, str]]:
        """Resolve once and check every answer; the caller connects to these addresses only.
        Any refused answer refuses the host (a mixed answer is a rebinding attempt)."""
        host = host.strip("[]")
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        # sockaddr[0] is the address text for both families (the stubs also allow an int).
        addresses: list[tuple[socket.AddressFamily, str]] = list(
            dict.fromkeys((family, str(sockaddr[0])) for family, _, _, _, sockaddr in infos)
        )
        for _, address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            why = self.refusal(host, ip)
            if why:
                raise BlockedAddress(f"refused by the network policy: {why}")
        return addresses


def check_url_shape(url: str) -> None:
    """Scheme and form only (no DNS): http(s), a host, no user:password@."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise BlockedAddress(
            f"refused by the network policy: scheme {parts.scheme or '(none)'!r} is not http(s)"
        )
    if not parts.hostname:
        raise BlockedAddress("refused by the network policy: the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise BlockedAddress("refused by the network policy: credentials in the URL (use the auth fields)")


def check_target(url: str, policy: HostPolicy | None = None) -> None:
    """Save-time check of a URL (admin, Connection.clean): shape, then every resolved address."""
    check_url_shape(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        (policy or HostPolicy.from_settings()).resolve(parts.hostname or "", port)
    except OSError as exc:
        raise BlockedAddress(f"cannot resolve {parts.hostname}: {exc.strerror or exc}") from None
