"""Steps the browser tests share: signing in, filling the form, finding a new card."""

from __future__ import annotations

import io
import time

import httpx
from PIL import Image
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.browser.page import Page, Web


def sign_in_with_form(page: Page, web: Web) -> None:
    page.open(f"{web.base}/")
    field = page.wait("the sign-in form", lambda: page.visible("#api-key"))
    page.shot("sign-in")
    field.send_keys(web.key, Keys.ENTER)
    page.wait("the create form", lambda: page.visible("#prompt"))
    assert page.js("return sessionStorage.getItem('diffstream.key')") == web.key


def sign_in_with_link(page: Page, web: Web) -> None:
    """The local-mode link (`diffstream gateway --dev`): the key rides in the fragment."""
    page.open(f"{web.base}/#key={web.key}")
    page.wait("the create form", lambda: page.visible("#prompt"))
    assert "key=" not in page.driver.current_url, "the key must leave the address bar"
    assert page.js("return sessionStorage.getItem('diffstream.key')") == web.key


def fill(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        if name == "model":
            page.wait("the models", lambda: page.all("#model option"))
            Select(page.find("#model")).select_by_value(value)
            continue
        control = page.find(f"#{name}")
        control.clear()
        control.send_keys(value)


def new_card(page: Page, known: set[str]) -> str:
    """The id of the request card that appeared after ``known``."""

    def new_id() -> str | None:
        ids = [card.get_attribute("data-id") or "" for card in page.all(".req")]
        fresh = [i for i in ids if i not in known]
        return fresh[0] if fresh else None

    return page.wait("the new request's card", new_id, 30)


def auth(web: Web) -> dict[str, str]:
    return {"Authorization": f"Bearer {web.key}"}


def fetch_png(url: str) -> Image.Image:
    answer = httpx.get(url, timeout=30, follow_redirects=True)
    assert answer.status_code == 200, answer.text[:300]
    image = Image.open(io.BytesIO(answer.content))
    image.load()
    return image


def draw_digits(web: Web, count: int, timeout_s: float = 120.0) -> list[str]:
    """``count`` digits asked through the API and completed: images for the gallery."""
    body = {"prompt": "a handwritten 3", "model": "digits", "steps": 4, "width": 64, "height": 64}
    with httpx.Client(base_url=web.base, headers=auth(web), timeout=10) as client:
        ids = []
        for _ in range(count):
            answer = client.post("/v1/generations", json=body)
            assert answer.status_code == 202, answer.text[:300]
            ids.append(answer.json()["id"])
        deadline = time.monotonic() + timeout_s
        for request_id in ids:
            while (state := client.get(f"/v1/generations/{request_id}").json())[
                "status"
            ] != "completed":
                assert state["status"] in ("queued", "running"), state
                assert time.monotonic() < deadline, f"{request_id} not completed: {state}"
                time.sleep(0.1)
    return ids
