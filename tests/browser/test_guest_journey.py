"""A guest's journey: the teacher makes an invite link on the class page, a guest opens it in
a browser of their own, types a name, waits, is let in by the teacher, chats, and leaves."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.core.models import Guest, User
from portal.extensions import db

pytestmark = pytest.mark.browser


def test_a_guest_joins_by_link_waits_is_admitted_chats_and_leaves(
    live_server, new_context, sign_in
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tina Teacher")
    class_id, schedule_id = live_server.class_with(
        teacher, [], title="Open day", starts_in=timedelta(minutes=2)
    )
    live_server.start(teacher, schedule_id)

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/classes/{class_id}")
    teacher_page.get_by_label("Access code (optional)").fill("4711")
    teacher_page.get_by_role("button", name="Make an invite link").click()
    url_box = teacher_page.get_by_label("The new invite link")
    expect(url_box).to_have_value(re.compile(r"/invite/[\w-]{22,}$"))
    invite_url = url_box.input_value()
    expect(teacher_page.locator("#invite-list")).to_contain_text("with a code")
    teacher_page.goto(f"/schedules/{schedule_id}")
    expect(teacher_page.locator("#lobby-empty")).to_be_visible()

    guest_page = new_context().new_page()
    guest_page.goto(invite_url)
    guest_page.get_by_label("Your name").fill("Paula Parent")
    guest_page.get_by_label("Access code").fill("0000")
    guest_page.get_by_role("button", name="Continue").click()
    expect(guest_page.locator("#guest-error")).to_contain_text("access code is not right")
    guest_page.get_by_label("Access code").fill("4711")
    guest_page.get_by_role("button", name="Continue").click()
    expect(guest_page.locator("#guest-status")).to_contain_text("Waiting for the teacher")

    waiting = teacher_page.locator("#lobby-list li", has_text="Paula Parent (guest)")
    expect(waiting).to_be_visible(timeout=20_000)
    waiting.get_by_role("button", name=re.compile("^Let in")).click()
    expect(teacher_page.locator("#lobby-empty")).to_be_visible()

    expect(guest_page.locator("#guest-status")).to_contain_text(
        "You are in the class", timeout=20_000
    )
    expect(guest_page.locator("#guest-meeting-link")).to_have_attribute(
        "href", re.compile(r"role=viewer")
    )
    presence = teacher_page.locator("#presence-list")
    expect(presence).to_contain_text("Paula Parent (guest)", timeout=20_000)
    guest_page.get_by_label("Message").fill("Hello from a parent!")
    guest_page.get_by_role("button", name="Send").click()
    log = teacher_page.locator("#chat-log")
    expect(log).to_contain_text("Hello from a parent!", timeout=20_000)
    expect(log).to_contain_text("Paula Parent (guest)")

    guest_page.get_by_role("button", name="Leave").click()
    expect(guest_page.locator("#guest-status")).to_contain_text("You left the class")
    expect(presence).not_to_contain_text("Paula Parent (guest)", timeout=20_000)
    with live_server.app.app_context():
        guest = db.session.execute(db.select(Guest)).scalar_one()
        assert guest.name == "Paula Parent" and guest.left_at is not None
        assert db.session.execute(db.select(User).filter_by(name="Paula Parent")).first() is None
