"""The browser tests share one Chromium per test process (portal_testing's `browser`): each
test still starts in a context of its own, without the cookies or storage an earlier test
left, and a test that runs an asyncio loop of its own in the same thread (aiortc, the SFU's
own browsers) works while that Chromium stays open."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.browser

# An origin the browser never reaches: the page answers it itself, the same in every test.
ORIGIN = "http://isolation.test"


def _open(page) -> None:
    page.context.route(
        f"{ORIGIN}/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>here</h1>"),
    )
    page.goto(ORIGIN + "/")


def test_a_test_leaves_a_cookie_and_storage_behind(page):
    _open(page)
    page.evaluate("document.cookie = 'left=behind; max-age=3600'; localStorage.left = 'behind'")
    assert page.evaluate("document.cookie") == "left=behind"


def test_the_next_test_starts_without_them(browser, page):
    _open(page)
    assert browser.contexts == [page.context]  # no context of an earlier test is still open
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length") == 0


def test_a_loop_of_its_own_runs_while_the_browser_stays_open(_shared_chromium):
    with _shared_chromium.in_use() as chromium:
        chromium.new_context().close()  # the shared Chromium is open and was just used

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(answer()) == 42
    with _shared_chromium.in_use() as chromium:  # and it still serves the next browser test
        context = chromium.new_context()
        assert context.new_page().evaluate("6 * 7") == 42
        context.close()
