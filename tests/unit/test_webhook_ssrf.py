"""The SSRF guard: private, loopback, link-local and metadata addresses are refused."""

from __future__ import annotations

import asyncio

import pytest

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
    guard = AddressGuard(["127.0.0.1", "10.0.0.0/8"])
    assert resolve(guard, url).url == url


def test_allow_listed_host_name_passes() -> None:
    guard = AddressGuard(["hooks.internal"], resolver=fixed("10.9.9.9"))
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
