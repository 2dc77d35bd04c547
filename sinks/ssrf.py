"""The SSRF guard: a callback URL may only reach public addresses, unless allow-listed.

The host is resolved here and the request is then sent to the address that was checked
(with the original Host header and TLS server name), so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot redirect it to a private address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from sinks.exceptions import WebhookRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud instance-metadata endpoints: refused even with allow_private, since they hand out
# credentials. AWS (IMDS, ECS task metadata, DNS, NTP), GCP/Azure/OpenStack/DigitalOcean
# (169.254.169.254 too), Alibaba, Oracle, and AWS IMDS over IPv6.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "169.254.169.123",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
SCHEMES = {"http": 80, "https": 443}


class Target(NamedTuple):
    """Where a checked callback is sent: the URL with its host replaced by the address."""

    url: str
    host: str
    host_header: str
    address: str
    endpoint: str


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (numeric, no DNS for IP literals)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class AddressGuard:
    """Decides whether a callback URL may be called, and where to connect."""

    def __init__(
        self,
        allow_hosts: Iterable[str] = (),
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow_private = allow_private
        self._resolver = resolver
        self._hosts: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow_hosts:
            try:
                self._networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self._hosts.add(entry.strip().lower().rstrip("."))

    async def resolve(self, url: str) -> Target:
        """The target of ``url``; ``WebhookRefusedError`` when it may not be called.

        ``OSError`` (e.g. a DNS failure) is left to the caller: it may pass.
        """
        parts = _parse(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or SCHEMES[parts.scheme]
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
        return Target(pinned, host, host_header, str(chosen), f"{parts.scheme}://{host}:{port}")

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
        if address.is_global and not address.is_multicast:
            return
        if self.allow_private and not address.is_multicast and not address.is_unspecified:
            return
        raise WebhookRefusedError(
            f"{host} resolves to {address}, which is not a public address "
            f"({_kind(address)}); allow it in DIFFSTREAM_WEBHOOKS__ALLOW_HOSTS or set "
            "DIFFSTREAM_WEBHOOKS__ALLOW_PRIVATE=true"
        )


def _parse(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError as exc:
        raise WebhookRefusedError(f"callback URL {url!r} is malformed: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise WebhookRefusedError(f"callback URL {url!r}: only http and https are allowed")
    if not parts.hostname:
        raise WebhookRefusedError(f"callback URL {url!r} has no host")
    return parts


def _address(text: str) -> IPAddress:
    # getaddrinfo may append an IPv6 zone ("fe80::1%eth0"); the zone does not change the kind.
    return ipaddress.ip_address(text.split("%", 1)[0])


def _unmapped(address: IPAddress) -> IPAddress:
    """``::ffff:127.0.0.1`` is 127.0.0.1 to the kernel: judge it as such."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _kind(address: IPAddress) -> str:
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "not globally routable"
