"""Which browser-openable URL the image sink puts in completed events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from diffstream.settings import Settings, SinkSettings
from sinks.image_urls import ImageUrls

NOW = datetime(2026, 1, 31, 12, tzinfo=UTC)


def test_a_public_gateway_url_gives_the_gateway_image_route_which_does_not_expire() -> None:
    settings = Settings().model_copy(
        update={"sink": SinkSettings(public_gateway_url="https://gen.example.com/")}
    )
    url, expires = ImageUrls(settings).url("r-1", 2, "s3://images-bucket/images/r-1/2.png", NOW)
    assert url == "https://gen.example.com/v1/generations/r-1/images/2"
    assert expires is None


def test_without_a_gateway_url_it_is_presigned_for_the_public_s3_endpoint() -> None:
    sink = SinkSettings(public_s3_endpoint="https://s3.example.com", presign_expiry_s=600)
    settings = Settings().model_copy(update={"sink": sink})
    url, expires = ImageUrls(settings).url("r-1", 0, "s3://images-bucket/images/r-1/0.png", NOW)
    assert url.startswith("https://s3.example.com/images-bucket/images/r-1/0.png?")
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=600" in url
    assert expires == NOW + timedelta(seconds=600)
