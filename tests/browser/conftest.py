"""The browser tests' fixtures: the session's real stack (reused from the integration tier),
every role and a gateway on it, and headless Chromium driven by Selenium."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from diffstream.kafka import make_admin
from diffstream.settings import Settings
from infra.together import run_every_role
from schemas.topics import TOPICS
from tests.browser.chromium import Chromium, ensure
from tests.browser.page import Page, Web, start_browser
from tests.integration.conftest import settings, stack  # noqa: F401 (the session's stack)
from tests.integration.gateway_support import live_key, running_gateway
from tests.integration.isolation import isolate


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    """Debian's chromium and chromedriver, installed first when they are missing."""
    return ensure(Settings())


@pytest.fixture(scope="module")
def web(settings: Settings) -> Iterator[Web]:  # noqa: F811 (the imported fixture)
    # Progress on every step, so that the page's bar has steps to show.
    isolated = isolate(settings, processor={"progress_interval_ms": 1})
    _wait_for_topics(isolated)
    stop = threading.Event()
    roles = threading.Thread(target=run_every_role, args=(isolated, stop), daemon=True)
    roles.start()
    try:
        with running_gateway(isolated) as base, httpx.Client(base_url=base) as client:
            yield Web(base, live_key(client, isolated, "web-page"), isolated)
    finally:
        stop.set()
        roles.join(60)


def _wait_for_topics(own: Settings, timeout_s: float = 30.0) -> None:
    """Until the broker lists every topic just created: on a busy machine its metadata lags
    the creation a little, and the gateway's view refuses to start on a missing topic."""
    admin = make_admin(own)
    wanted = {own.topic(spec.name) for spec in TOPICS}
    deadline = time.monotonic() + timeout_s
    while True:
        listed = admin.list_topics(timeout=10).topics
        missing = {name for name in wanted if not getattr(listed.get(name), "partitions", None)}
        if not missing:
            return
        assert time.monotonic() < deadline, f"topics not listed after {timeout_s:g}s: {missing}"
        time.sleep(0.1)


@pytest.fixture
def page(chromium: Chromium, tmp_path: Path) -> Iterator[Page]:
    """A fresh browser (its own profile, so its own sessionStorage), screenshots in tmp_path."""
    driver = start_browser(chromium, tmp_path / "downloads")
    try:
        page = Page(driver, tmp_path)
        yield page
        assert page.script_errors() == [], "the page's JavaScript failed"
    finally:
        driver.quit()
