"""Journeys of a school's teaching team: an owner adds a co-teacher who starts the class, and
a student waits in the waiting room, is let in by the teacher, chats, and leaves."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.core.models import Class, ClassStaff
from portal.extensions import db

pytestmark = pytest.mark.browser


def test_a_co_teacher_starts_a_class_the_owner_created(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    owner = live_server.user("teacher", "Olga Owner")
    co_teacher = live_server.user("teacher", "Carl Colleague")
    class_id, schedule_id = live_server.class_with(
        owner, [], title="Physics", starts_in=timedelta(minutes=5)
    )

    owner_page = sign_in(new_context(), owner.email, next_path=f"/classes/{class_id}")
    owner_page.get_by_label("Email of a teacher of the school").fill(co_teacher.email)
    owner_page.get_by_label("Role").select_option(label="Co-teacher")
    owner_page.get_by_role("button", name="Add to this class").click()
    expect(owner_page.locator("#flash")).to_contain_text("Carl Colleague now helps teach")
    expect(owner_page.locator("#staff-list")).to_contain_text("Carl Colleague co-teacher")
    with live_server.app.app_context():
        row = db.session.execute(db.select(ClassStaff).filter_by(class_id=class_id)).scalar_one()
        assert (row.user_id, row.role) == (co_teacher.id, "co_teacher")

    co_page = sign_in(new_context(), co_teacher.email)
    # The class is on the co-teacher's dashboard, among the classes they teach.
    expect(co_page.locator("#upcoming")).to_contain_text("Physics")
    co_page.goto(f"/classes/{class_id}")
    expect(co_page.get_by_role("link", name="Edit")).to_be_visible()
    expect(co_page.get_by_role("button", name="Cancel class")).to_have_count(0)
    co_page.goto(f"/schedules/{schedule_id}")
    with co_page.context.expect_page() as meeting_tab:
        co_page.get_by_role("button", name="Start the class").click()
    assert f"user={co_teacher.id}&role=moderator" in meeting_tab.value.url
    expect(co_page.get_by_role("button", name="End the class")).to_be_visible()
    with live_server.app.app_context():
        assert db.session.get(Class, class_id).teacher_id == owner.id


def test_a_student_waits_in_the_waiting_room_is_let_in_chats_and_leaves(
    live_server, new_context, sign_in
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tina Teacher")
    student = live_server.user("student", "Stan Student")
    class_id, schedule_id = live_server.class_with(
        teacher, [student], title="History", starts_in=timedelta(minutes=2)
    )
    with live_server.app.app_context():
        db.session.get(Class, class_id).waiting_room = True
        db.session.commit()
    live_server.start(teacher, schedule_id)

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{schedule_id}")
    expect(teacher_page.locator("#lobby-empty")).to_be_visible()

    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{schedule_id}")
    expect(student_page.locator("#room-status")).to_contain_text("waiting room")
    expect(student_page.get_by_role("link", name="Open the class in a new tab")).to_be_hidden()

    # The teacher's panel shows who waits, pushed over the live connection.
    waiting = teacher_page.locator("#lobby-list li", has_text="Stan Student")
    expect(waiting).to_be_visible(timeout=20_000)
    waiting.get_by_role("button", name=re.compile("^Let in")).click()
    expect(teacher_page.locator("#lobby-empty")).to_be_visible()

    link = student_page.get_by_role("link", name="Open the class in a new tab")
    expect(link).to_be_visible(timeout=20_000)
    expect(link).to_have_attribute("href", re.compile(rf"user={student.id}&role=viewer"))

    student_page.get_by_label("Message").fill("Hello from the waiting room!")
    student_page.get_by_role("button", name="Send").click()
    expect(teacher_page.locator("#chat-log")).to_contain_text(
        "Hello from the waiting room!", timeout=20_000
    )
    student_page.close()  # the student leaves
    expect(teacher_page.locator("#chat-log")).to_contain_text("Stan Student")
