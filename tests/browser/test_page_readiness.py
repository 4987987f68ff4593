"""A control that only a page script can serve does not swallow a choice made before the
script is there: a button's click waits for the page to be ready, a select is enabled only
once its script listens, instead of doing nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import urlopen

import pytest
from playwright.sync_api import expect

from portal.core.models import Recording
from portal.extensions import db

pytestmark = pytest.mark.browser

SCRIPT_DELAY_SECONDS = 1.5


@pytest.fixture
def slow_script_server(live_server) -> Iterator[str]:
    """Serves the portal's own scripts, late, the way a slow network would."""

    class SlowScript(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            time.sleep(SCRIPT_DELAY_SECONDS)
            with urlopen(live_server.url + self.path, timeout=10) as upstream:
                body = upstream.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowScript)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def arrives_late(page, script: str, slow_script_server: str) -> None:
    """The page's `script` comes through the slow server."""
    page.route(
        f"**/assets/js/{script}",
        lambda route: route.continue_(
            url=slow_script_server + "/" + route.request.url.split("/", 3)[3]
        ),
    )


def test_a_start_pressed_while_the_room_script_loads_still_starts_the_class(
    live_server, new_context, sign_in, slow_script_server
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Rita Ready")
    _, schedule_id = live_server.class_with(
        teacher, [], title="Early clicks", starts_in=timedelta(minutes=5)
    )
    page = sign_in(new_context(), teacher.email)
    arrives_late(page, "room.js", slow_script_server)
    page.goto(f"{live_server.url}/schedules/{schedule_id}", wait_until="commit")
    start = page.get_by_role("button", name="Start the class")
    expect(start).to_be_visible()
    # The button is on screen while room.js is still on its way: press it at once.
    with page.context.expect_page(timeout=10_000) as meeting_tab:
        start.click()
    assert "fake.example/join/" in meeting_tab.value.url
    expect(page.get_by_role("button", name="End the class")).to_be_visible()


def test_a_visibility_chosen_while_the_recording_script_loads_is_saved(
    live_server, new_context, sign_in, slow_script_server
):
    config_id = live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Rita Ready")
    class_id, _ = live_server.class_with(
        teacher, [], title="Early choices", starts_in=timedelta(days=1)
    )
    recording_id = live_server.recording(
        class_id,
        config_id,
        backend_record_id="rec-early",
        title="Early choices, week 1",
        duration_seconds=600,
        playback_url="https://fake.example/play/early",
        visibility="published",
    )
    page = sign_in(new_context(), teacher.email)
    arrives_late(page, "recording-page.js", slow_script_server)
    page.goto(f"{live_server.url}/recordings/{recording_id}", wait_until="commit")
    visibility = page.get_by_label("Visibility")
    expect(visibility).to_be_visible()
    # On screen while recording-page.js is still on its way: choose at once.
    visibility.select_option("teachers")
    with live_server.app.app_context():
        for _ in range(100):
            db.session.expire_all()
            if db.session.get(Recording, recording_id).visibility == "teachers":
                break
            page.wait_for_timeout(100)
        assert db.session.get(Recording, recording_id).visibility == "teachers"
