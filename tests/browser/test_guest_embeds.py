"""The guest's page live and embedded: the teacher's admission, the class starting and the
chat reach it over its own socket (no polling), the meeting is embedded through the
backend's room script as on the member room; Jitsi's lobby turned on by the teacher's room
when it holds the waiting room; a "viewer only" guest stays muted and cannot write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from embed_stub import EmbedStub
from playwright.sync_api import expect

from portal.core import chat, invites, lobby
from portal.core.models import BackendConfig, Class, User
from portal.core.types import utcnow
from portal.extensions import db

pytestmark = pytest.mark.browser


@pytest.fixture
def live_plugins():
    return [EmbedStub()]


def use_jitsi_stub(live_server, class_id: int, **settings) -> None:
    with live_server.app.app_context():
        config = BackendConfig(
            name="Embedded jitsi",
            backend="embedstub",
            enabled=True,
            settings={"mode": "jitsi", **settings},
        )
        db.session.add(config)
        db.session.flush()
        db.session.get(Class, class_id).backend_config_id = config.id
        db.session.commit()


def invite_url(live_server, teacher, class_id: int, *, viewer_only: bool = False) -> str:
    with live_server.app.app_context():
        _link, token = invites.create_link(
            db.session.get(User, teacher.id),
            class_id,
            expires_at=utcnow() + timedelta(hours=1),
            viewer_only=viewer_only,
        )
        db.session.commit()
    return f"/invite/{token}"


def admit_everyone(live_server, teacher, schedule_id: int) -> None:
    with live_server.app.app_context():
        lobby.admit(db.session.get(User, teacher.id), schedule_id)
        db.session.commit()


def start(live_server, teacher, schedule_id: int) -> None:
    from portal.core import meetings

    # A request context: the backend builds its room script's URL with url_for.
    with live_server.app.test_request_context():
        meetings.start_class(db.session.get(User, teacher.id), schedule_id)
        db.session.commit()


def say(live_server, teacher, schedule_id: int, body: str) -> None:
    with live_server.app.app_context():
        chat.post_message(db.session.get(User, teacher.id), schedule_id, body)
        db.session.commit()


def jitsi_commands(page, at_least: int) -> list:
    """The IFrame API commands the page's room script sent, once `at_least` arrived (or what
    came in a bounded number of looks)."""
    commands: list = []
    for _ in range(100):
        commands = page.evaluate("window.__jitsiCommands || []")
        if len(commands) >= at_least:
            break
        page.wait_for_timeout(100)
    return commands


def enter_as_guest(context, url: str, name: str):
    page = context.new_page()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/api/guest/me") else None)
    page.goto(url)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#guest-status")).to_contain_text("Waiting for the teacher")
    return page, polls


def test_the_guest_is_admitted_live_and_the_meeting_is_embedded(live_server, new_context, sign_in):
    teacher = live_server.user("teacher", "Tess Teacher")
    class_id, sid = live_server.class_with(
        teacher, [], title="Open lesson", starts_in=timedelta(minutes=1)
    )
    use_jitsi_stub(live_server, class_id)
    guest, polls = enter_as_guest(
        new_context(), invite_url(live_server, teacher, class_id), "Paul Parent"
    )

    admit_everyone(live_server, teacher, sid)  # admitted before the class starts
    expect(guest.locator("#guest-status")).to_contain_text("waiting for the teacher to start")
    start(live_server, teacher, sid)
    # class:started pushed: the meeting is embedded through the Jitsi plugin's room script.
    expect(guest.locator("#guest-embed #fake-jitsi")).to_be_visible(timeout=20_000)
    expect(guest.locator("#guest-status")).to_contain_text("You are in the class")
    calls = guest.evaluate("window.__jitsiCalls")
    assert len(calls) == 1 and calls[0]["jwt"].startswith("token-for--")  # minus the guest id
    say(live_server, teacher, sid, "Welcome to our open lesson")
    expect(guest.locator("#guest-chat-log")).to_contain_text("Welcome to our open lesson")
    guest.get_by_label("Message").fill("Thank you!")
    guest.get_by_role("button", name="Send").click()
    expect(guest.locator("#guest-chat-log")).to_contain_text("Paul Parent (guest) Thank you!")
    # Pushed, not polled: the page asked /api/guest/me once, when it opened.
    assert len(polls) == 1, polls


def test_the_teachers_room_turns_jitsis_lobby_on_and_a_viewer_only_guest_stays_muted(
    live_server, new_context, sign_in
):
    teacher = live_server.user("teacher", "Tess Teacher")
    class_id, sid = live_server.class_with(
        teacher, [], title="Inspection", starts_in=timedelta(minutes=1)
    )
    use_jitsi_stub(live_server, class_id, lobby=True)
    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{sid}")
    teacher_page.get_by_role("button", name="Start the class").click()
    expect(teacher_page.locator("#embed #fake-jitsi")).to_be_visible()
    assert jitsi_commands(teacher_page, 1) == [["toggleLobby", True]]

    guest, _polls = enter_as_guest(
        new_context(), invite_url(live_server, teacher, class_id, viewer_only=True), "Ivy"
    )
    admit_everyone(live_server, teacher, sid)
    expect(guest.locator("#guest-embed #fake-jitsi")).to_be_visible(timeout=20_000)
    commands = jitsi_commands(guest, 2)
    assert sorted(c[0] for c in commands) == ["toggleAudio", "toggleVideo"]  # never the lobby
    expect(guest.locator("#guest-chat-read-only")).to_be_visible()
    expect(guest.get_by_label("Message")).to_have_count(0)
