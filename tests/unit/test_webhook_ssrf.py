"""The SSRF guard: special-purpose, translated and metadata addresses, and ports other than
80 and 443, are refused unless allow-listed."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from pydantic import ValidationError

from diffstream.settings import WebhookSettings
from sinks.exceptions import WebhookRefusedError
from sinks.ssrf import AddressGuard, Target


def resolve(guard: AddressGuard, url: str) -> Target:
    return asyncio.run(guard.resolve(url))


def fixed(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolver(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolver


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://192.168.1.10/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://2130706433/",  # 127.0.0.1 as one number
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefusedError, match="DIFFSTREAM_WEBHOOKS__ALLOW"):
        resolve(AddressGuard(), url)


def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    guard = AddressGuard(resolver=fixed("93.184.216.34", "10.1.2.3"))
    with pytest.raises(WebhookRefusedError, match=r"10\.1\.2\.3"):
        resolve(guard, "https://hooks.example.com/x")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://10.0.0.1/hook"])
def test_allow_listed_addresses_pass(url: str) -> None:
    guard = AddressGuard(["127.0.0.1", "10.0.0.0/8"], allow_ports=[8080])
    assert resolve(guard, url).url == url


def test_allow_listed_host_name_passes() -> None:
    guard = AddressGuard(["hooks.internal"], allow_ports=["8000-8999"], resolver=fixed("10.9.9.9"))
    target = resolve(guard, "http://hooks.internal:8080/x?y=1")
    assert target.url == "http://10.9.9.9:8080/x?y=1"
    assert target.host_header == "hooks.internal:8080"


def test_allow_private_still_refuses_metadata() -> None:
    guard = AddressGuard(allow_private=True)
    assert resolve(guard, "http://10.0.0.1/hook").address == "10.0.0.1"
    assert resolve(guard, "http://127.0.0.1/hook").address == "127.0.0.1"
    with pytest.raises(WebhookRefusedError, match="metadata"):
        resolve(guard, "http://169.254.169.254/")
    with pytest.raises(WebhookRefusedError, match="metadata"):
        resolve(guard, "http://[fd00:ec2::254]/")
    assert resolve(AddressGuard(["169.254.169.254"]), "http://169.254.169.254/").address


def test_public_addresses_are_pinned() -> None:
    guard = AddressGuard(resolver=fixed("93.184.216.34"))
    target = resolve(guard, "https://hooks.example.com/path")
    assert target.url == "https://93.184.216.34/path"
    assert target.host == "hooks.example.com"
    assert target.host_header == "hooks.example.com"
    assert target.endpoint == "https://hooks.example.com:443"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///x"])
def test_other_schemes_and_hostless_urls_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefusedError):
        resolve(AddressGuard(), url)


# Every address the resolver might return, and what the guard makes of it (default settings).
# Python 3.11's is_global calls the starred ones global: the guard must not trust it alone.
ADDRESS_TABLE = [
    # public: may be called
    ("93.184.216.34", None),
    ("8.8.8.8", None),
    ("2606:2800:220:1:248:1893:25c8:1946", None),
    ("2001:4860:4860::8888", None),
    ("::ffff:93.184.216.34", None),  # IPv4-mapped: judged as the IPv4 address it is
    # translated forms that embed an IPv4 address the guard never judged
    ("64:ff9b::a9fe:a9fe", "NAT64 well-known prefix"),  # * 169.254.169.254 via NAT64
    ("64:ff9b::5db8:d822", "NAT64 well-known prefix"),  # * even a public IPv4 inside
    ("64:ff9b:1::a00:1", "local-use NAT64"),  # *
    ("2002:a9fe:a9fe::1", "6to4"),  # *
    ("2002:5db8:d822::1", "6to4"),  # *
    ("2001::1", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("::ffff:0:a00:1", "IPv4-translated"),  # *
    ("::a00:1", "IPv4-compatible"),  # *
    ("::7f00:1", "IPv4-compatible"),  # * 127.0.0.1 in the deprecated form
    ("192.88.99.1", "6to4 relay anycast"),  # *
    ("192.0.0.2", "DS-Lite"),
    ("192.0.0.170", "NAT64/DNS64 discovery"),
    # cloud metadata
    ("168.63.129.16", "metadata"),  # * Azure WireServer
    ("169.254.169.254", "metadata"),
    ("::ffff:169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    # other special-purpose ranges of the IANA registries
    ("0.1.2.3", "this network"),
    ("0.0.0.0", "this network"),
    ("10.1.2.3", "private-use"),
    ("100.64.0.1", "shared address space"),
    ("127.0.0.1", "loopback"),
    ("169.254.1.1", "link-local"),
    ("172.16.5.4", "private-use"),
    ("192.0.0.9", "IETF protocol assignments"),  # *
    ("192.0.2.1", "TEST-NET-1"),
    ("192.31.196.1", "AS112"),  # *
    ("192.52.193.1", "AMT"),  # *
    ("192.168.1.1", "private-use"),
    ("192.175.48.1", "AS112"),  # *
    ("198.18.0.1", "benchmarking"),
    ("198.51.100.1", "TEST-NET-2"),
    ("203.0.113.1", "TEST-NET-3"),
    ("224.0.0.1", "multicast"),  # *
    ("239.255.255.250", "multicast"),  # *
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("100::1", "discard-only"),
    ("2001:db8::1", "documentation"),
    ("2001:2::1", "IETF protocol assignments"),
    ("2001:20::1", "IETF protocol assignments"),
    ("2620:4f:8000::1", "AS112"),  # *
    ("3fff::1", "documentation"),  # *
    ("5f00::1", "SRv6"),  # *
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),  # *
    ("ff02::1", "multicast"),
    ("4000::1", "not globally routable"),  # * outside 2000::/3, unassigned
]


@pytest.mark.parametrize(("address", "refusal"), ADDRESS_TABLE)
def test_address_table(address: str, refusal: str | None) -> None:
    guard = AddressGuard(resolver=fixed(address))
    if refusal is None:
        chosen = resolve(guard, "https://hooks.example.com/x").address
        assert ipaddress.ip_address(chosen) == ipaddress.ip_address(address)
        return
    with pytest.raises(WebhookRefusedError, match=refusal) as refused:
        resolve(guard, "https://hooks.example.com/x")
    assert "DIFFSTREAM_WEBHOOKS__ALLOW_HOSTS" in str(refused.value), "the error names the fix"


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),
        ("::7f00:1", "127.0.0.1"),
    ],
)
def test_translated_errors_name_the_embedded_address(address: str, embedded: str) -> None:
    with pytest.raises(WebhookRefusedError, match=f"standing for {embedded}"):
        resolve(AddressGuard(resolver=fixed(address)), "https://hooks.example.com/x")


@pytest.mark.parametrize("address", ["64:ff9b::a00:1", "2002:a00:1::1", "2001::1", "::a00:1"])
def test_allow_private_does_not_open_translated_ranges(address: str) -> None:
    guard = AddressGuard(allow_private=True, resolver=fixed(address))
    with pytest.raises(WebhookRefusedError, match="another address than the one checked"):
        resolve(guard, "https://hooks.example.com/x")


def test_an_explicit_network_opens_a_translated_range() -> None:
    guard = AddressGuard(["64:ff9b::/96"], resolver=fixed("64:ff9b::5db8:d822"))
    assert resolve(guard, "https://hooks.example.com/x").address == "64:ff9b::5db8:d822"


@pytest.mark.parametrize(
    "address", ["168.63.129.16", "224.0.0.1", "255.255.255.255", "0.0.0.0", "ff02::1"]
)
def test_allow_private_does_not_open_metadata_multicast_or_broadcast(address: str) -> None:
    guard = AddressGuard(allow_private=True, resolver=fixed(address))
    with pytest.raises(WebhookRefusedError):
        resolve(guard, "https://hooks.example.com/x")


@pytest.mark.parametrize(
    ("url", "allow_ports", "allowed"),
    [
        ("http://hooks.example.com/x", (), True),
        ("https://hooks.example.com/x", (), True),
        ("http://hooks.example.com:443/x", (), True),
        ("https://hooks.example.com:80/x", (), True),
        ("https://hooks.example.com:8443/x", (), False),
        ("http://hooks.example.com:22/x", (), False),
        ("http://hooks.example.com:6379/x", (), False),
        ("http://hooks.example.com:25/x", (), False),
        ("https://hooks.example.com:8443/x", ("8443",), True),
        ("https://hooks.example.com:8443/x", (8443,), True),
        ("https://hooks.example.com:9050/x", ("9000-9100",), True),
        ("https://hooks.example.com:9101/x", ("9000-9100",), False),
        ("https://hooks.example.com:8999/x", ("9000-9100",), False),
    ],
)
def test_only_ports_80_443_and_configured_ones(
    url: str, allow_ports: tuple[str | int, ...], allowed: bool
) -> None:
    guard = AddressGuard(allow_ports=allow_ports, resolver=fixed("93.184.216.34"))
    if allowed:
        assert resolve(guard, url).address == "93.184.216.34"
    else:
        with pytest.raises(WebhookRefusedError, match="DIFFSTREAM_WEBHOOKS__ALLOW_PORTS"):
            resolve(guard, url)


def test_the_port_rule_holds_for_allow_listed_hosts_too() -> None:
    guard = AddressGuard(["127.0.0.1"])
    with pytest.raises(WebhookRefusedError, match="port 8080"):
        resolve(guard, "http://127.0.0.1:8080/hook")
    assert resolve(AddressGuard(["127.0.0.1"]), "http://127.0.0.1/hook").address == "127.0.0.1"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.invalid/x",
        "https://a.b.test/x",
        "https://example/x",
        "https://printer.local/x",
        "https://abc.onion/x",
        "https://router.home.arpa/x",
        "https://foo.localhost/x",
    ],
)
def test_special_use_domain_names_are_refused_without_a_lookup(url: str) -> None:
    async def must_not_resolve(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} was looked up")

    with pytest.raises(WebhookRefusedError, match="special-use domain"):
        resolve(AddressGuard(resolver=must_not_resolve), url)


def test_an_allow_listed_special_use_name_passes() -> None:
    guard = AddressGuard(["hooks.test"], resolver=fixed("10.0.0.5"))
    assert resolve(guard, "https://hooks.test/x").address == "10.0.0.5"


def test_refusals_never_show_credentials_or_query() -> None:
    for url in ("ftp://user:secret@example.com/x?token=abc", "http://user:secret@/x?token=abc"):
        with pytest.raises(WebhookRefusedError) as refused:
            resolve(AddressGuard(), url)
        assert "secret" not in str(refused.value)
        assert "abc" not in str(refused.value)


@pytest.mark.parametrize("entry", ["0", "65536", "9100-9000", "http", "80-", True])
def test_bad_allow_ports_entries_are_refused_with_the_fix(entry: object) -> None:
    with pytest.raises(ValidationError, match=r"allow_ports entry .* write e\.g\."):
        WebhookSettings(allow_ports=[entry])
