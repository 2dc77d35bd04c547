"""Headless Chromium on the gateway's page: waits, screen widths and screenshots."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from diffstream.settings import Settings
from tests.browser.chromium import Chromium

T = TypeVar("T")
PHONE, DESKTOP = 375, 1280
_HEIGHTS = {PHONE: 812, DESKTOP: 900}


@dataclass(frozen=True)
class Web:
    """A gateway on the real stack, with the roles running, and one tenant's key."""

    base: str
    key: str
    settings: Settings


def start_browser(chromium: Chromium, downloads: Path) -> webdriver.Chrome:
    """Chromium without a display, saving downloads in ``downloads``; a failure to start
    raises (the test fails, never skips)."""
    options = webdriver.ChromeOptions()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.binary_location = str(chromium.browser)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager must not try to download one.
    return webdriver.Chrome(options=options, service=Service(str(chromium.driver)))


class Page:
    """The page in one browser: find, wait, type, and screenshots named by step."""

    def __init__(self, driver: webdriver.Chrome, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        self.width = DESKTOP
        self.shots: list[Path] = []

    def use_width(self, width: int) -> None:
        """Lay the page out as on a screen ``width`` CSS pixels wide (a phone at 375)."""
        self.width = width
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": _HEIGHTS.get(width, 900),
                "deviceScaleFactor": 2 if width < 600 else 1,
                "mobile": width < 600,
            },
        )

    def open(self, url: str) -> None:
        self.driver.get(url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, what: str, check: Callable[[], T | None], timeout_s: float = 60.0) -> T:
        """Poll ``check`` until it returns something truthy; fail naming ``what``."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:g}s: {what}\n{self.log()}")
            time.sleep(0.02)

    def status(self, request_id: str) -> str | None:
        """The state a request's card shows (queued, running, completed, ...)."""
        cards = self.all(f'.req[data-id="{request_id}"]')
        return cards[0].get_attribute("data-status") if cards else None

    def loaded(self, image: WebElement) -> bool:
        """Whether an <img> has finished loading a picture."""
        return bool(self.js("return arguments[0].complete && arguments[0].naturalWidth", image))

    def visible(self, css: str) -> WebElement | None:
        found = [e for e in self.all(css) if e.is_displayed()]
        return found[0] if found else None

    def shot(self, name: str, *, full: bool = False) -> Path:
        """A PNG of the viewport (``full``: the whole page) named ``NN-name-WIDTH.png``."""
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}-{self.width}.png"
        if full:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip}
            )
            path.write_bytes(base64.b64decode(shot["data"]))
        else:
            self.driver.save_screenshot(str(path))
        self.shots.append(path)
        print(f"screenshot: {path}")
        return path

    def script_errors(self) -> list[str]:
        """Errors the page's JavaScript logged (answers of 4xx/5xx are expected, not these)."""
        entries = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [
            str(e["message"])
            for e in entries
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
        ]

    def log(self) -> str:
        """The browser console so far (errors of the page's JavaScript show up here)."""
        entries = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return "\n".join(f"console {e['level']}: {e['message']}" for e in entries)
