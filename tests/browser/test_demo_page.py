"""`make demo` prints a link to the web page; opened, its gallery shows the demo's images."""

from __future__ import annotations

import io
import re

import pytest

pytest.importorskip("sklearn", reason="the digits model needs the inference extra")

from rich.console import Console

from diffstream.settings import Settings
from infra.demo import BACKFILL, INTERACTIVE, run_demo
from tests.browser.page import DESKTOP, Page
from tests.integration.gateway_support import running_gateway
from tests.integration.isolation import isolate

pytestmark = pytest.mark.integration

_LINK = re.compile(r"^open (http://\S+?)/#key=(\S+)$", re.MULTILINE)


def test_the_demo_link_opens_the_page_with_the_demos_images(page: Page, settings: Settings) -> None:
    isolated = isolate(settings)
    output = io.StringIO()
    run_demo(isolated, Console(file=output, width=200))
    link = _LINK.search(output.getvalue())
    assert link is not None, output.getvalue()[-2000:]
    # The demo prints the default address; this test's gateway listens on a free port.
    with running_gateway(isolated) as base:
        page.use_width(DESKTOP)
        page.open(f"{base}/#key={link.group(2)}")
        page.wait("the create form", lambda: page.visible("#prompt"))
        page.find("#tab-gallery").click()

        def every_image() -> bool:
            page.js("window.scrollTo(0, document.body.scrollHeight)")
            return not page.visible("#gallery-more")

        page.wait("the gallery's end", every_image, 60)
        tiles = page.all(".tile")
        assert len(tiles) == BACKFILL + INTERACTIVE
        page.wait(
            "the images",
            lambda: all(page.loaded(t.find_element("css selector", "img")) for t in tiles),
        )
        page.js("window.scrollTo(0, 0)")
        page.shot("demo-gallery", full=True)
