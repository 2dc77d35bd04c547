"""The gateway's web page in headless Chromium, against the real stack and the digits model.

Every test runs at 1280 px and at 375 px (a phone) and prints the paths of its screenshots,
one per step, written under the test's own tmp_path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.page import DESKTOP, PHONE, Page, Web
from tests.browser.steps import (
    auth,
    fetch_png,
    fill,
    new_card,
    sign_in_with_form,
    sign_in_with_link,
)

pytestmark = pytest.mark.integration

WIDTHS = pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["1280px", "375px"])
STEPS = 60

# Records every value the progress bars take, as the page sets them.
_RECORD_PROGRESS = """
window.progressSeen = [];
new MutationObserver((changes) => {
  for (const change of changes) {
    const bar = change.target;
    if (bar.getAttribute('role') === 'progressbar') {
      window.progressSeen.push([Number(bar.getAttribute('aria-valuenow')),
                                Number(bar.getAttribute('aria-valuemax'))]);
    }
  }
}).observe(document.getElementById('requests'),
           {subtree: true, attributes: true, attributeFilter: ['aria-valuenow']});
"""


def _assert_the_bar_moved(page: Page) -> None:
    seen: list[list[int]] = page.js("return window.progressSeen")
    steps = [now for now, top in seen if top == STEPS]
    assert len(set(steps)) >= 3, f"the bar did not move through the steps: {seen}"
    assert steps == sorted(steps), f"the bar went backwards: {steps}"
    assert any(0 < step < STEPS for step in steps), steps
    assert steps[-1] == STEPS, steps


def _assert_a_png_of_the_size_asked(page: Page, image: WebElement) -> None:
    """What the browser shows is a PNG of the requested size."""
    shown = page.js("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image)
    assert shown == [128, 128]
    png = fetch_png(str(image.get_attribute("src")))
    assert (png.format, png.size) == ("PNG", (128, 128))


def _check_the_result_view(page: Page, web: Web, image: WebElement, request_id: str) -> int:
    """The image, its parameters, download and copy as curl; the image's seed."""
    image.find_element(By.XPATH, "..").click()
    dialog = page.wait("the result view", lambda: page.visible("#result"))
    page.wait("the large image", lambda: page.visible("#result-images img[src]"))
    params = dialog.find_element(By.ID, "result-params").text
    for expected in ("a handwritten 7", "digits", "128\N{MULTIPLICATION SIGN}128", request_id):
        assert expected in params, params
    assert page.find("#result-download").get_attribute("href")
    curl = page.js("return document.getElementById('result-curl-text').textContent")
    assert f"{web.base}/v1/generations" in curl
    body = json.loads(curl.split("-d '", 1)[1].rsplit("'", 1)[0])
    assert (body["prompt"], body["model"], body["steps"]) == ("a handwritten 7", "digits", STEPS)
    seed = body["seed"]
    assert isinstance(seed, int), "the curl line repeats the image's seed"
    page.shot("result")
    page.find("#result-download").click()
    saved = page.folder / "downloads" / f"{request_id}-0.png"
    page.wait("the downloaded image", saved.is_file)
    with Image.open(saved) as downloaded:
        assert (downloaded.format, downloaded.size) == ("PNG", (128, 128))
    assert len(page.driver.window_handles) == 1, "the download opened no other tab"
    page.find("#result-curl").click()
    page.wait("the copied note", lambda: "copied" in page.find("#toasts").text)
    return seed


@WIDTHS
def test_sign_in_draw_a_seven_and_find_it_in_the_gallery(page: Page, web: Web, width: int) -> None:
    page.use_width(width)
    sign_in_with_form(page, web)
    page.shot("signed-in", full=True)

    fill(page, prompt="a handwritten 7", model="digits", size="128x128", steps=str(STEPS))
    page.js(_RECORD_PROGRESS)
    page.find("#prompt").send_keys(Keys.CONTROL, Keys.ENTER)  # the keyboard shortcut submits
    request_id = new_card(page, set())
    card = f'.req[data-id="{request_id}"]'
    bar = page.find(f'{card} [role="progressbar"]')

    def mid_way() -> bool:
        now = int(bar.get_attribute("aria-valuenow") or 0)
        return 0 < now < int(bar.get_attribute("aria-valuemax") or 0)

    page.wait(f"the bar between 0 and {STEPS} steps", mid_way, 60)
    page.shot("progress")
    assert "step" in page.find(f"{card} .req-status").text

    image = page.wait(
        "the finished image", lambda: page.visible(f'{card}[data-status="completed"] img[src]'), 120
    )
    page.wait("the image to load", lambda: page.loaded(image))
    page.shot("completed")

    _assert_the_bar_moved(page)
    _assert_a_png_of_the_size_asked(page, image)

    seed = _check_the_result_view(page, web, image, request_id)

    # Again with a new seed: the same request, drawn from another seed.
    page.find("#result-again").click()
    page.wait("the result view to close", lambda: not page.find("#result").is_displayed())
    again = new_card(page, {request_id})
    page.wait("the second image", lambda: page.status(again) == "completed", 120)
    state = httpx.get(f"{web.base}/v1/generations/{again}", headers=auth(web), timeout=10).json()
    assert state["prompt"] == "a handwritten 7"
    assert state["images"][0]["seed"] != seed

    page.find("#tab-gallery").click()
    tile = page.wait(
        "the image in the gallery", lambda: page.visible(f'.tile[data-id="{request_id}"] img[src]')
    )
    newest = [t.get_attribute("data-id") for t in page.all(".tile")[:2]]
    assert newest == [again, request_id], "newest first"
    page.wait("the tile's image", lambda: page.loaded(tile))
    page.shot("gallery")


@WIDTHS
def test_a_size_of_7x7_shows_the_api_error_next_to_the_size(
    page: Page, web: Web, width: int
) -> None:
    page.use_width(width)
    sign_in_with_link(page, web)
    fill(page, prompt="a handwritten 7", model="digits", size="7x7")
    page.find("#generate").click()
    error = page.wait("the size error", lambda: page.visible("#size-error"))
    # The validator's own words: the page checks only the WxH form, the API the limits.
    assert "width=7 is out of range" in error.text, error.text
    assert "[64, 2048]" in error.text, error.text
    size = page.find("#size")
    assert size.get_attribute("aria-invalid") == "true"
    assert "size-error" in (size.get_attribute("aria-describedby") or "")
    below, box = error.rect, size.rect
    assert 0 <= below["y"] - (box["y"] + box["height"]) < 24, (below, box)
    assert abs(below["x"] - box["x"]) < 4, (below, box)
    assert not page.all(".req"), "nothing was submitted"
    page.shot("size-error")
    # Editing the size clears its error.
    size.send_keys(Keys.BACKSPACE)
    page.wait("the error to clear", lambda: not page.visible("#size-error"))


@WIDTHS
def test_cancel_a_queued_request(page: Page, web: Web, width: int) -> None:
    page.use_width(width)
    sign_in_with_link(page, web)
    # A long request keeps the worker busy, so that the next one waits in the queue.
    long_one = {"size": "256x256", "steps": "150", "num_images": "8"}
    fill(page, prompt="a handwritten 1", model="digits", **long_one)
    page.find("#generate").click()
    busy = new_card(page, set())
    page.wait("the long request to start", lambda: page.status(busy) == "running")

    fill(page, prompt="a handwritten 2", steps="20", num_images="1")
    page.find("#generate").click()
    queued = new_card(page, {busy})
    assert page.status(queued) == "queued"
    card = page.find(f'.req[data-id="{queued}"]')
    assert card.find_element(By.CSS_SELECTOR, ".chip").text.upper() == "QUEUED"
    page.shot("queued")
    card.find_element(By.CSS_SELECTOR, "button.cancel").click()
    # It ends once the worker reaches it, after the long request: on a machine shared with
    # another test worker that took 46 s (13 s alone).
    page.wait("the request to end as cancelled", lambda: page.status(queued) == "cancelled", 200)
    assert not card.find_element(By.CSS_SELECTOR, "button.cancel").is_displayed()
    page.shot("cancelled")

    answer = httpx.get(f"{web.base}/v1/generations/{queued}", headers=auth(web), timeout=10)
    assert answer.json()["status"] == "cancelled", answer.text
    page.wait("the long request to finish", lambda: page.status(busy) == "completed", 180)


@WIDTHS
def test_a_batch_file_shows_its_counts_then_a_contact_sheet(
    page: Page, web: Web, width: int, tmp_path: Path
) -> None:
    page.use_width(width)
    sign_in_with_link(page, web)
    upload = tmp_path / "digits.jsonl"
    with upload.open("w") as lines:
        for digit in range(10):
            line = {"prompt": f"a handwritten {digit}", "model": "digits", "steps": 10}
            lines.write(json.dumps({**line, "width": 64, "height": 64}) + "\n")
    page.find("#tab-batch").click()
    page.find("#batch-file").send_keys(str(upload))
    page.find("#batch-form button[type=submit]").click()
    page.wait("the batch's counts", lambda: page.visible("#batch-counts .count.total"))
    assert page.find("#batch-counts .count.total dd").text == "10"
    page.shot("batch-counts")

    def sheet_loaded() -> bool:
        return sum(page.loaded(image) for image in page.all("#batch-sheet img")) == 10

    page.wait("a contact sheet of 10 images", sheet_loaded, 180)
    assert page.find("#batch-counts .count.completed dd").text == "10"
    time.sleep(0.2)  # let the last thumbnails paint
    page.shot("batch-sheet", full=True)
