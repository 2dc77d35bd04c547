"""The gateway's settings (``DIFFSTREAM_GATEWAY__*``), beside the shared ``Settings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """How `diffstream gateway` listens, limits and reads outcomes."""

    model_config = SettingsConfigDict(
        env_prefix="DIFFSTREAM_GATEWAY__", frozen=True, extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, lt=65536)
    # The URL clients reach this gateway at (status_url, events_url); None: from the request.
    public_url: str | None = None
    # Presigned image URLs: how long they work, and the S3 endpoint a browser can reach
    # (None: DIFFSTREAM_S3_ENDPOINT).
    presign_expiry_s: int = Field(3600, gt=0, le=7 * 24 * 3600)
    public_s3_endpoint: str | None = None
    max_body_bytes: int = Field(64 * 1024, gt=0)
    max_batch_bytes: int = Field(8 * 1024 * 1024, gt=0)
    # The in-memory view of requests: how far back it reads at start, and how many it keeps.
    view_lookback_s: float = Field(24 * 3600.0, gt=0)
    view_max_requests: int = Field(200_000, gt=0)
    # Load shedding: interactive submits get 503 while the processors' lag on the
    # interactive lane is above this many requests (0: never shed).
    shed_interactive_lag: int = Field(1000, ge=0)
    lag_check_interval_s: float = Field(1.0, gt=0)
    # Limits of keys created without --rate / --images-per-min / --max-in-flight.
    default_rate_per_s: float = Field(10.0, gt=0)
    default_images_per_min: int = Field(600, gt=0)
    default_max_in_flight: int = Field(100, gt=0)
    # Models offered by GET /v1/models (those the processors are set up to serve).
    models: tuple[str, ...] = ("digits", "tiny-sd")
    # The longest Prefer: wait=N a submit may ask for (held connections cost a socket each).
    max_wait_s: float = Field(60.0, ge=0)
    # SSE keep-alive comments, so proxies do not close idle streams.
    sse_ping_s: float = Field(15.0, gt=0)
    # How long /readyz and the first requests wait for the key directory to catch up.
    startup_timeout_s: float = Field(30.0, gt=0)
