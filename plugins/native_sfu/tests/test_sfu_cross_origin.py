"""A page on another origin publishes through the SFU with sfu-client.js when, and only when,
the admin lists that origin in `cors_origins` (headless Chromium, fake camera)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

import pytest
from portal_testing import launch_chromium
from test_sfu_browser import MEDIA_ARGS

from portal.core.models import BackendConfig
from portal.extensions import db

PAGE = """<!doctype html><meta charset="utf-8"><title>school site</title>
<script src="{portal}/sfu/static/sfu-client.js"></script>"""

PUBLISH = """async ([embed, portal]) => {
  const path = (u) => portal + new URL(u).pathname;
  const client = new PortalSfu({whipUrl: path(embed.whip_url), whepUrl: path(embed.whep_url),
                                publishersUrl: path(embed.publishers_url), token: embed.token});
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  try {
    window.published = await client.publish(stream, {label: "camera"});
    return {ok: true, location: window.published.location};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
}"""


@contextlib.contextmanager
def other_origin(portal_url: str) -> Iterator[str]:
    """A second web origin on loopback (127.0.0.2) serving one page that loads sfu-client.js."""
    body = PAGE.format(portal=portal_url).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _publish_from(origin: str, embed: dict, portal_url: str, sfu) -> tuple[dict, list, list]:
    from playwright.sync_api import sync_playwright

    room = embed["room"]
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, *MEDIA_ARGS)
        try:
            page = browser.new_context(permissions=["camera"]).new_page()
            page.goto(origin + "/")
            result = page.evaluate(PUBLISH, [embed, portal_url])
            during = sfu.pool.call(room, "room")["sessions"]
            if result["ok"]:
                page.wait_for_function(
                    f"""async () => (await (await fetch(
                          {portal_url!r} + '/sfu/rooms/{room}/publishers',
                          {{headers: {{Authorization: 'Bearer {embed["token"]}'}}}}
                        )).json()).publishers.length > 0""",
                    timeout=15_000,
                )
                page.evaluate("window.published.stop()")  # DELETE, cross-origin too
            after = sfu.pool.call(room, "room")["sessions"]
        finally:
            browser.close()
    return result, during, after


@pytest.mark.browser
def test_a_page_on_an_allowed_origin_publishes_and_ends_its_stream(sfu, login, portal_url):
    with other_origin(portal_url) as origin:
        config = db.session.get(BackendConfig, sfu.sfu_config.id)
        config.settings = {"cors_origins": [origin]}
        db.session.commit()
        embed = (
            login(sfu.teacher)
            .post(f"/api/schedules/{sfu.schedule.id}/start")
            .get_json()["join"]["embed"]
        )
        result, during, after = _publish_from(origin, embed, portal_url, sfu)
    assert result["ok"], result
    assert result["location"].startswith(portal_url + f"/sfu/rooms/{embed['room']}/sessions/")
    assert [(s["role"], s["kinds"]) for s in during] == [("publish", ["video"])]
    assert after == []


@pytest.mark.browser
def test_a_page_on_an_origin_not_listed_cannot_publish(sfu, login, portal_url):
    with other_origin(portal_url) as origin:
        embed = (
            login(sfu.teacher)
            .post(f"/api/schedules/{sfu.schedule.id}/start")
            .get_json()["join"]["embed"]
        )
        result, during, _after = _publish_from(origin, embed, portal_url, sfu)
    assert not result["ok"]
    assert "Failed to fetch" in result["error"]  # the browser refused the preflight
    assert during == []
