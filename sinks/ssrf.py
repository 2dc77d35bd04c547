"""The SSRF guard: a callback URL may only reach public addresses on ports 80 and 443,
unless allow-listed.

Non-public means any range of the IANA special-purpose registries (see ``SPECIAL_RANGES``),
which is more than Python's ``is_global`` knows. Translated forms (NAT64, 6to4, Teredo, the
IPv4-compatible and -translated IPv6 forms) are refused even with ``allow_private``: the
packet would end up at an embedded IPv4 address the guard never judged.

The host is resolved here and the request is then sent to the address that was checked
(with the original Host header and TLS server name), so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot redirect it to a private address.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from diffstream.port_ranges import port_range
from schemas.urls import redact_url
from sinks.exceptions import WebhookRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud instance-metadata endpoints: refused even with allow_private, since they hand out
# credentials. AWS (IMDS, ECS task metadata, DNS, NTP), GCP/Azure/OpenStack/DigitalOcean
# (169.254.169.254 too), Azure's WireServer, Alibaba, Oracle, and AWS IMDS over IPv6.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "169.254.169.123",
        "168.63.129.16",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
SCHEMES = {"http": 80, "https": 443}
DEFAULT_PORTS = frozenset(SCHEMES.values())


class _Kind(enum.Enum):
    """How a special-purpose range is treated."""

    NON_PUBLIC = "opened by allow_private"
    # The packet goes to another address than the one checked (an IPv4 address embedded in
    # the IPv6 one, through a translator or tunnel that may sit anywhere): allow_private
    # does not open these, only an explicit entry in allow_hosts.
    TRANSLATED = "translated"
    NEVER = "never a unicast destination"


def _ranges(kind: _Kind, table: dict[str, str]) -> list[tuple[IPNetwork, str, _Kind]]:
    return [(ipaddress.ip_network(net), name, kind) for net, name in table.items()]


# The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and later), plus the
# deprecated IPv6 forms that embed an IPv4 address. Python's ``is_global`` misses several of
# them (64:ff9b::/96, 2002::/16, ::/96 and 192.88.99.0/24 are "global" to Python 3.11), so
# the table is judged first and ``is_global`` only after it. The most specific range wins
# (Teredo 2001::/32 inside 2001::/23, ::1 inside ::/96).
SPECIAL_RANGES: list[tuple[IPNetwork, str, _Kind]] = [
    *_ranges(
        _Kind.TRANSLATED,
        {
            "64:ff9b::/96": "NAT64 well-known prefix (RFC 6052)",
            "64:ff9b:1::/48": "local-use NAT64 prefix (RFC 8215)",
            "2002::/16": "6to4 (RFC 3056)",
            "2001::/32": "Teredo (RFC 4380)",
            "::ffff:0:0:0/96": "IPv4-translated address (RFC 2765)",
            "::/96": "IPv4-compatible address (deprecated, RFC 4291)",
            "192.88.99.0/24": "6to4 relay anycast (deprecated, RFC 7526)",
            "192.0.0.0/29": "IPv4 service continuity prefix (DS-Lite, RFC 7335)",
            "192.0.0.170/31": "NAT64/DNS64 discovery (RFC 7050)",
        },
    ),
    *_ranges(
        _Kind.NEVER,
        {
            "0.0.0.0/8": "this network (RFC 791)",
            "224.0.0.0/4": "multicast",
            "255.255.255.255/32": "limited broadcast",
            "::/128": "unspecified address",
            "ff00::/8": "multicast",
            "100::/64": "discard-only prefix (RFC 6666)",
        },
    ),
    *_ranges(
        _Kind.NON_PUBLIC,
        {
            "10.0.0.0/8": "private-use (RFC 1918)",
            "100.64.0.0/10": "shared address space, carrier-grade NAT (RFC 6598)",
            "127.0.0.0/8": "loopback",
            "169.254.0.0/16": "link-local",
            "172.16.0.0/12": "private-use (RFC 1918)",
            "192.0.0.0/24": "IETF protocol assignments (RFC 6890)",
            "192.0.2.0/24": "documentation, TEST-NET-1",
            "192.31.196.0/24": "AS112 service (RFC 7535)",
            "192.52.193.0/24": "AMT relay anycast (RFC 7450)",
            "192.168.0.0/16": "private-use (RFC 1918)",
            "192.175.48.0/24": "AS112 direct delegation (RFC 7534)",
            "198.18.0.0/15": "benchmarking (RFC 2544)",
            "198.51.100.0/24": "documentation, TEST-NET-2",
            "203.0.113.0/24": "documentation, TEST-NET-3",
            "240.0.0.0/4": "reserved (RFC 1112)",
            "::1/128": "loopback",
            "2001::/23": "IETF protocol assignments (RFC 2928)",
            "2001:db8::/32": "documentation",
            "2620:4f:8000::/48": "AS112 direct delegation (RFC 7534)",
            "3fff::/20": "documentation (RFC 9637)",
            "5f00::/16": "SRv6 SIDs (RFC 9602)",
            "fc00::/7": "unique local (RFC 4193)",
            "fe80::/10": "link-local",
            "fec0::/10": "site-local (deprecated, RFC 3879)",
        },
    ),
]
# Global unicast: every other IPv6 address is unassigned or reserved (RFC 4291 section 2.4).
IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


class Target(NamedTuple):
    """Where a checked callback is sent: the URL with its host replaced by the address."""

    url: str
    host: str
    host_header: str
    address: str
    endpoint: str


# getaddrinfo blocks a thread until the DNS answers or times out (seconds, for a domain
# whose name servers are down). Lookups get their own threads, not asyncio's few default
# ones, and the deliverer lets each endpoint hold at most its connection slots of them.
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="dns")


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (numeric, no DNS for IP literals)."""
    infos = await asyncio.get_running_loop().run_in_executor(
        _LOOKUPS,
        functools.partial(
            socket.getaddrinfo, host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        ),
    )
    return [str(info[4][0]) for info in infos]


# Special-use domain names (RFC 6761, RFC 7686, RFC 8375, RFC 9476) that public DNS never
# resolves to a webhook receiver: refused without a lookup, unless allow-listed by name.
SPECIAL_USE_DOMAINS = ("invalid", "test", "example", "localhost", "local", "onion", "alt")
SPECIAL_USE_SUFFIXES = ("home.arpa",)


class AddressGuard:
    """Decides whether a callback URL may be called, and where to connect."""

    def __init__(
        self,
        allow_hosts: Iterable[str] = (),
        *,
        allow_private: bool = False,
        allow_ports: Iterable[str | int] = (),
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow_private = allow_private
        self._resolver = resolver
        self._hosts: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in allow_hosts:
            try:
                self._networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self._hosts.add(entry.strip().lower().rstrip("."))
        self._ports = [port_range(entry) for entry in allow_ports]

    async def resolve(self, url: str) -> Target:
        """The target of ``url``; ``WebhookRefusedError`` when it may not be called.

        ``OSError`` (e.g. a DNS failure) is left to the caller: it may pass.
        """
        parts = _parse(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or SCHEMES[parts.scheme]
        self.check_port(host, port)
        self.check_name(host)
        addresses = [_address(a) for a in await self._resolver(host, port)]
        if not addresses:
            raise OSError(f"{host} resolves to no address")
        for address in addresses:
            self.check(host, address)
        chosen = addresses[0]
        literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        default_port = port == SCHEMES[parts.scheme]
        netloc = literal if default_port else f"{literal}:{port}"
        pinned = parts._replace(netloc=netloc).geturl()
        header_host = f"[{host}]" if ":" in host else host
        host_header = header_host if default_port else f"{header_host}:{port}"
        return Target(pinned, host, host_header, str(chosen), endpoint_of(url))

    def check_port(self, host: str, port: int) -> None:
        """Raise ``WebhookRefusedError`` unless ``port`` is 80, 443 or allowed by setting."""
        if port in DEFAULT_PORTS or any(low <= port <= high for low, high in self._ports):
            return
        raise WebhookRefusedError(
            f"callback port {port} of {host} is not allowed (limit: ports 80 and 443); "
            f"add it to DIFFSTREAM_WEBHOOKS__ALLOW_PORTS, e.g. '[\"{port}\"]'"
        )

    def check_name(self, host: str) -> None:
        """Refuse special-use domain names (``.invalid``, ``.test``, ...) without a lookup."""
        if host in self._hosts or _is_ip_literal(host):
            return
        labels = host.split(".")
        if labels[-1] in SPECIAL_USE_DOMAINS or any(
            host == s or host.endswith(f".{s}") for s in SPECIAL_USE_SUFFIXES
        ):
            raise WebhookRefusedError(
                f"callback host {host} is under a special-use domain that public DNS does not "
                "resolve (RFC 6761); allow it in DIFFSTREAM_WEBHOOKS__ALLOW_HOSTS if you mean it"
            )

    def check(self, host: str, address: IPAddress) -> None:
        """Raise ``WebhookRefusedError`` unless ``address`` (of ``host``) may be called."""
        address = _unmapped(address)
        if host in self._hosts or any(address in net for net in self._networks):
            return
        if address in METADATA_ADDRESSES:
            raise WebhookRefusedError(
                f"{host} resolves to {address}, a cloud metadata address; "
                "allow it explicitly in DIFFSTREAM_WEBHOOKS__ALLOW_HOSTS if you mean it"
            )
        special = special_range(address)
        if special is None:
            if _is_public(address):
                return
            special = ("not globally routable", _Kind.NON_PUBLIC)
        name, kind = special
        if kind is _Kind.TRANSLATED:
            raise WebhookRefusedError(
                f"{host} resolves to {address}, a {name} address{_embedded(address)}: the "
                "request would reach another address than the one checked; allow the network "
                "explicitly in DIFFSTREAM_WEBHOOKS__ALLOW_HOSTS if you mean it"
            )
        if kind is _Kind.NON_PUBLIC and self.allow_private:
            return
        fix = (
            "allow it explicitly in DIFFSTREAM_WEBHOOKS__ALLOW_HOSTS if you mean it "
            "(ALLOW_PRIVATE does not open it)"
            if kind is _Kind.NEVER
            else "allow it in DIFFSTREAM_WEBHOOKS__ALLOW_HOSTS or set "
            "DIFFSTREAM_WEBHOOKS__ALLOW_PRIVATE=true"
        )
        raise WebhookRefusedError(
            f"{host} resolves to {address}, which is not a public address ({name}); {fix}"
        )


def special_range(address: IPAddress) -> tuple[str, _Kind] | None:
    """The most specific special-purpose range ``address`` is in (name, treatment), or None."""
    matches = [
        (network.prefixlen, name, kind)
        for network, name, kind in SPECIAL_RANGES
        if address.version == network.version and address in network
    ]
    if not matches:
        return None
    _, name, kind = max(matches, key=lambda match: match[0])
    return name, kind


def endpoint_of(url: str) -> str:
    """``scheme://host:port`` of a URL (no DNS): the unit of queueing and concurrency."""
    try:
        parts = urlsplit(url)
        port = parts.port or SCHEMES.get(parts.scheme, 0)
    except ValueError:
        return "malformed"
    host = (parts.hostname or "").lower().rstrip(".")
    return f"{parts.scheme}://{host}:{port}"


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address not in IPV6_GLOBAL_UNICAST:
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded(address: IPAddress) -> str:
    """The IPv4 address a translated IPv6 address stands for, as a clause (or "")."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ""
    inner = address.sixtofour or (address.teredo[1] if address.teredo else None)
    if inner is None:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return f" standing for {inner}"


def _parse(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError as exc:
        raise WebhookRefusedError(f"callback URL {redact_url(url)} is malformed: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise WebhookRefusedError(
            f"callback URL {redact_url(url)}: only http and https are allowed"
        )
    if not parts.hostname:
        raise WebhookRefusedError(f"callback URL {redact_url(url)} has no host")
    return parts


def _address(text: str) -> IPAddress:
    # getaddrinfo may append an IPv6 zone ("fe80::1%eth0"); the zone does not change the kind.
    return ipaddress.ip_address(text.split("%", 1)[0])


def _unmapped(address: IPAddress) -> IPAddress:
    """``::ffff:127.0.0.1`` is 127.0.0.1 to the kernel: judge it as such."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
