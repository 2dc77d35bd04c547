"""The gateway's web page in headless Chromium, against the real stack and the digits model.

Every test runs at 1280 px and at 375 px (a phone) and prints the paths of its screenshots,
one per step, written under the test's own tmp_path.
"""

from __future__ import annotations

import io
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
from selenium.webdriver.support.ui import Select

from tests.browser.page import DESKTOP, PHONE, Page, Web

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


def _sign_in_with_form(page: Page, web: Web) -> None:
    page.open(f"{web.base}/")
    field = page.wait("the sign-in form", lambda: page.visible("#api-key"))
    page.shot("sign-in")
    field.send_keys(web.key, Keys.ENTER)
    page.wait("the create form", lambda: page.visible("#prompt"))
    assert page.js("return sessionStorage.getItem('diffstream.key')") == web.key


def _sign_in_with_link(page: Page, web: Web) -> None:
    """The local-mode link (`diffstream gateway --dev`): the key rides in the fragment."""
    page.open(f"{web.base}/#key={web.key}")
    page.wait("the create form", lambda: page.visible("#prompt"))
    assert "key=" not in page.driver.current_url, "the key must leave the address bar"
    assert page.js("return sessionStorage.getItem('diffstream.key')") == web.key


def _fill(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        if name == "model":
            page.wait("the models", lambda: page.all("#model option"))
            Select(page.find("#model")).select_by_value(value)
            continue
        control = page.find(f"#{name}")
        control.clear()
        control.send_keys(value)


def _new_card(page: Page, known: set[str]) -> str:
    """The id of the request card that appeared after ``known``."""

    def new_id() -> str | None:
        ids = [card.get_attribute("data-id") or "" for card in page.all(".req")]
        fresh = [i for i in ids if i not in known]
        return fresh[0] if fresh else None

    return page.wait("the new request's card", new_id, 30)


def _auth(web: Web) -> dict[str, str]:
    return {"Authorization": f"Bearer {web.key}"}


def _png(url: str) -> Image.Image:
    answer = httpx.get(url, timeout=30, follow_redirects=True)
    assert answer.status_code == 200, answer.text[:300]
    image = Image.open(io.BytesIO(answer.content))
    image.load()
    return image


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
    png = _png(str(image.get_attribute("src")))
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
    _sign_in_with_form(page, web)
    page.shot("signed-in", full=True)

    _fill(page, prompt="a handwritten 7", model="digits", size="128x128", steps=str(STEPS))
    page.js(_RECORD_PROGRESS)
    page.find("#prompt").send_keys(Keys.CONTROL, Keys.ENTER)  # the keyboard shortcut submits
    request_id = _new_card(page, set())
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
    again = _new_card(page, {request_id})
    page.wait("the second image", lambda: page.status(again) == "completed", 120)
    state = httpx.get(f"{web.base}/v1/generations/{again}", headers=_auth(web), timeout=10).json()
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
    _sign_in_with_link(page, web)
    _fill(page, prompt="a handwritten 7", model="digits", size="7x7")
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
    _sign_in_with_link(page, web)
    # A long request keeps the worker busy, so that the next one waits in the queue.
    long_one = {"size": "256x256", "steps": "150", "num_images": "8"}
    _fill(page, prompt="a handwritten 1", model="digits", **long_one)
    page.find("#generate").click()
    busy = _new_card(page, set())
    page.wait("the long request to start", lambda: page.status(busy) == "running")

    _fill(page, prompt="a handwritten 2", steps="20", num_images="1")
    page.find("#generate").click()
    queued = _new_card(page, {busy})
    assert page.status(queued) == "queued"
    card = page.find(f'.req[data-id="{queued}"]')
    assert card.find_element(By.CSS_SELECTOR, ".chip").text.upper() == "QUEUED"
    page.shot("queued")
    card.find_element(By.CSS_SELECTOR, "button.cancel").click()
    page.wait("the request to end as cancelled", lambda: page.status(queued) == "cancelled", 90)
    assert not card.find_element(By.CSS_SELECTOR, "button.cancel").is_displayed()
    page.shot("cancelled")

    answer = httpx.get(f"{web.base}/v1/generations/{queued}", headers=_auth(web), timeout=10)
    assert answer.json()["status"] == "cancelled", answer.text
    page.wait("the long request to finish", lambda: page.status(busy) == "completed", 180)


@WIDTHS
def test_a_batch_file_shows_its_counts_then_a_contact_sheet(
    page: Page, web: Web, width: int, tmp_path: Path
) -> None:
    page.use_width(width)
    _sign_in_with_link(page, web)
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


def test_the_gallery_loads_more_as_you_scroll(page: Page, web: Web) -> None:
    """On a phone a page holds a few images; scrolling to the end fetches the next ones."""
    page.use_width(PHONE)
    _sign_in_with_link(page, web)
    expected: list[str] = []
    cursor = None
    while True:
        query: dict[str, str | int] = {"status": "completed", "limit": 200}
        if cursor:
            query["cursor"] = cursor
        answer = httpx.get(
            f"{web.base}/v1/generations", params=query, headers=_auth(web), timeout=10
        ).json()
        expected += [i["id"] for item in answer["data"] for i in [item] * len(item["images"])]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    page.find("#tab-gallery").click()
    page.wait("the first page", lambda: page.all(".tile"))
    first_page = len(page.all(".tile"))
    assert first_page < len(expected), f"{first_page} tiles at once: nothing left to scroll to"
    page.shot("gallery-top")

    def scrolled_to_the_end() -> bool:
        page.js("window.scrollTo(0, document.body.scrollHeight)")
        return not page.visible("#gallery-more")

    page.wait("the gallery's end", scrolled_to_the_end, 60)
    shown = [tile.get_attribute("data-id") for tile in page.all(".tile")]
    assert shown == expected, "every image once, newest first"
    lists = page.js(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => e.name.includes('/v1/generations?')).length"
    )
    assert lists >= 2, "more than one page was fetched"
    page.shot("gallery-end")


# Controls without a name a screen reader can say: no <label>, aria-label(ledby) or text.
_UNLABELLED = """
return [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden')
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.id || el.outerHTML.slice(0, 80));
"""


def test_every_control_is_labelled_and_the_page_works_from_the_keyboard(
    page: Page, web: Web
) -> None:
    page.use_width(DESKTOP)
    _sign_in_with_link(page, web)
    assert page.js(_UNLABELLED) == []
    # Signed in, the prompt has the focus: type, then Ctrl+Enter.
    typing = page.driver.switch_to.active_element
    assert typing.get_attribute("id") == "prompt"
    typing.send_keys("a handwritten 3", Keys.CONTROL, Keys.ENTER)
    request_id = _new_card(page, set())
    page.wait("the drawing", lambda: page.status(request_id) == "completed", 120)

    # The tabs follow the arrow keys; a gallery tile opens with Enter and closes with Escape.
    page.find("#tab-create").send_keys(Keys.ARROW_RIGHT)
    assert page.driver.switch_to.active_element.get_attribute("id") == "tab-gallery"
    assert page.find("#tab-gallery").get_attribute("aria-selected") == "true"
    tile = page.wait("a tile", lambda: page.visible(f'.tile[data-id="{request_id}"] button'))
    page.js("arguments[0].focus()", tile)
    tile.send_keys(Keys.ENTER)
    page.wait("the result view", lambda: page.visible("#result"))
    assert page.js("return document.activeElement.closest('dialog') !== null")
    page.shot("keyboard-result")
    page.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    page.wait("the result view to close", lambda: not page.find("#result").is_displayed())
    assert page.js("return document.activeElement === arguments[0]", tile), "focus returns"


# The page's own modules, run in the browser: the SSE reader on awkward chunk boundaries
# (sse-starlette ends lines with CRLF) and 64-bit seeds through JSON.
_READ_EVENTS = """
const done = arguments[arguments.length - 1];
const { events } = await import('/static/sse.js');
const { parse, stringify } = await import('/static/json.js');
const chunks = arguments[0];
const body = new ReadableStream({ start(c) {
  for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk));
  c.close();
} });
const seen = [];
for await (const e of events(body)) seen.push(e);
const seed = parse(seen[2].data).seed;
done({ seen, seed: String(seed), again: stringify({ seed }) });
"""


_CHUNKS = [
    ": ping\r\n\r",  # a comment, then CR | LF split across two chunks
    '\nid: 1\r\nevent: progress\r\ndata: {"step"',
    ": 1}\r\n\r\n",
    "data: a\ndata: b\n\n",  # two data lines, no id: the last id stays
    'event: completed\ndata: {"seed": 9223372036854775807}\nid: 3\n\n',
]


def test_the_event_stream_reader_and_64_bit_seeds(page: Page, web: Web) -> None:
    _sign_in_with_link(page, web)
    result = page.driver.execute_async_script(
        "const fail = arguments[arguments.length - 1];"
        "(async () => {" + _READ_EVENTS + "})().catch((e) => fail(String(e)));",
        _CHUNKS,
    )
    assert result["seen"] == [
        {"event": "progress", "data": '{"step": 1}', "id": "1"},
        {"event": "message", "data": "a\nb", "id": "1"},
        {"event": "completed", "data": '{"seed": 9223372036854775807}', "id": "3"},
    ], result
    assert result["seed"] == "9223372036854775807"
    assert result["again"] == '{"seed":9223372036854775807}'


def test_the_dice_seed_and_the_gallery_filters(page: Page, web: Web) -> None:
    page.use_width(DESKTOP)
    _sign_in_with_link(page, web)
    _fill(page, prompt="a handwritten 6", model="digits", size="64x64")  # no label
    page.find("#generate").click()
    unlabelled = _new_card(page, set())
    _fill(page, prompt="a handwritten 5", labels="suite=browser")
    page.find("#dice").click()
    seed = page.find("#seed").get_attribute("value") or ""
    assert seed.isdigit(), seed
    page.find("#generate").click()
    request_id = _new_card(page, {unlabelled})
    page.wait("the drawing", lambda: page.status(request_id) == "completed", 120)
    state = httpx.get(f"{web.base}/v1/generations/{request_id}", headers=_auth(web), timeout=10)
    assert state.json()["images"][0]["seed"] == int(seed)
    assert state.json()["labels"] == {"suite": "browser"}

    page.wait("the other drawing", lambda: page.status(unlabelled) == "completed", 120)
    page.find("#tab-gallery").click()
    page.wait("both images", lambda: len(page.all(".tile")) >= 2)
    label = page.find("#filter-label")
    label.send_keys("suite=browser", Keys.ENTER)

    def only_the_labelled_one() -> bool:
        return [t.get_attribute("data-id") for t in page.all(".tile")] == [request_id]

    page.wait("only the labelled image", only_the_labelled_one)
    page.shot("gallery-label")
    Select(page.find("#filter-model")).select_by_value("tiny-sd")
    page.wait("no image of tiny-sd", lambda: page.visible("#gallery-empty"))
    assert not page.all(".tile")
    page.shot("gallery-none")
