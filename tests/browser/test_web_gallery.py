"""The gateway's web page in headless Chromium: the gallery, the keyboard, the controls.

Like test_web_page.py, against the real stack and the digits model.
"""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.browser.page import DESKTOP, PHONE, Page, Web
from tests.browser.steps import auth, draw_digits, fill, new_card, sign_in_with_link

pytestmark = pytest.mark.integration

WIDTHS = pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["1280px", "375px"])


def test_the_gallery_loads_more_as_you_scroll(page: Page, web: Web) -> None:
    """On a phone a page holds a few images; scrolling to the end fetches the next ones."""
    page.use_width(PHONE)
    # More than a phone's page (10 tiles at 375x812), whatever ran before.
    draw_digits(web, 16)
    sign_in_with_link(page, web)
    expected: list[str] = []
    cursor = None
    while True:
        query: dict[str, str | int] = {"status": "completed", "limit": 200}
        if cursor:
            query["cursor"] = cursor
        answer = httpx.get(
            f"{web.base}/v1/generations", params=query, headers=auth(web), timeout=10
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
    sign_in_with_link(page, web)
    assert page.js(_UNLABELLED) == []
    # Signed in, the prompt has the focus: type, then Ctrl+Enter.
    typing = page.driver.switch_to.active_element
    assert typing.get_attribute("id") == "prompt"
    typing.send_keys("a handwritten 3", Keys.CONTROL, Keys.ENTER)
    request_id = new_card(page, set())
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
    sign_in_with_link(page, web)
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
    sign_in_with_link(page, web)
    fill(page, prompt="a handwritten 6", model="digits", size="64x64")  # no label
    page.find("#generate").click()
    unlabelled = new_card(page, set())
    fill(page, prompt="a handwritten 5", labels="suite=browser")
    page.find("#dice").click()
    seed = page.find("#seed").get_attribute("value") or ""
    assert seed.isdigit(), seed
    page.find("#generate").click()
    request_id = new_card(page, {unlabelled})
    page.wait("the drawing", lambda: page.status(request_id) == "completed", 120)
    state = httpx.get(f"{web.base}/v1/generations/{request_id}", headers=auth(web), timeout=10)
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
