"""The class form shows only the room settings the chosen meeting system honours (its
capabilities' room_settings, plus "Allow chat", which the portal's chat enforces), and
switching the "Meeting system" select changes what is shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.core.models import BackendConfig
from portal.extensions import db

pytestmark = pytest.mark.browser

SETTINGS = ("mute_on_entry", "cameras_teachers_only", "screen_share", "chat", "private_chat")


def _config(live_server, name: str, backend: str, settings: dict) -> int:
    with live_server.app.app_context():
        config = BackendConfig(
            name=name, backend=backend, enabled=True, health_ok=True, settings=settings
        )
        db.session.add(config)
        db.session.commit()
        return config.id


def _shown(page) -> set[str]:
    return {
        name
        for name in SETTINGS
        if page.locator(f'#room-settings [data-room-setting="{name}"]').is_visible()
    }


def test_the_class_form_shows_only_what_the_chosen_meeting_system_honours(
    live_server, new_context, sign_in
):
    live_server.fake_backend_config()  # the school's default: honours no room setting
    bbb = _config(live_server, "Big room", "bbb", {"url": "https://bbb.example/bigbluebutton/api/"})
    sfu = _config(live_server, "Own video", "native_sfu", {})
    teacher = live_server.user("teacher", "Fay Formfiller")
    page = sign_in(new_context(), teacher.email, next_path="/classes/new")
    page.goto("/classes/new")
    page.wait_for_load_state("load")
    meeting_system = page.get_by_label("Meeting system")

    expect(page.locator('[data-room-setting="chat"]')).to_be_visible()
    assert _shown(page) == {"chat"}  # the default (fake) backend honours none of its own

    meeting_system.select_option(str(bbb))
    expect(page.locator('[data-room-setting="mute_on_entry"]')).to_be_visible()
    assert _shown(page) == {"mute_on_entry", "cameras_teachers_only", "chat", "private_chat"}

    meeting_system.select_option(str(sfu))
    expect(page.locator('[data-room-setting="screen_share"]')).to_be_visible()
    assert _shown(page) == {"cameras_teachers_only", "screen_share", "chat"}
    expect(page.get_by_label("Mute everyone when they enter")).to_be_hidden()

    meeting_system.select_option("")  # back to the school default
    expect(page.locator('[data-room-setting="screen_share"]')).to_be_hidden()
    assert _shown(page) == {"chat"}
