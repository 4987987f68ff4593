"""The main journeys through the pages, in headless Chromium against a live portal."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fake_backend import FAKE
from playwright.sync_api import expect

from portal.core.models import Class, Meeting, Schedule
from portal.extensions import db

pytestmark = pytest.mark.browser


def test_teacher_creates_a_recurring_class_and_starts_it(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tom Teacher")
    page = sign_in(new_context(), teacher.email)

    page.get_by_role("link", name="New class").first.click()
    expect(page.get_by_role("heading", name="New class")).to_be_visible()
    # The first occurrence in 5 minutes, school time (Europe/Paris), then weekly.
    first = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(minutes=5)
    other_day = (first + timedelta(days=2)).strftime("%a")
    page.get_by_label("Title").fill("Weekly algebra")
    page.get_by_label("Description").fill("Bring a calculator.")
    page.get_by_label("First date").fill(first.strftime("%Y-%m-%d"))
    page.get_by_label("Start time").fill(first.strftime("%H:%M"))
    page.get_by_label("Duration (minutes)").fill("45")
    page.get_by_label("Weekly").check()
    page.get_by_label(first.strftime("%a"), exact=True).check()
    page.get_by_label(other_day, exact=True).check()
    page.get_by_label("Number of occurrences").fill("4")
    page.get_by_label("Meeting system").select_option(label="Fake (Fake meetings) · default")
    page.get_by_role("button", name="Create class").click()

    expect(page.get_by_role("heading", name="Weekly algebra")).to_be_visible()
    expect(page.locator("#flash")).to_contain_text("Class created with 4 occurrences")
    with live_server.app.app_context():
        klass = db.session.execute(db.select(Class).filter_by(title="Weekly algebra")).scalar_one()
        assert klass.rrule.startswith("FREQ=WEEKLY;BYDAY=") and klass.rrule.endswith(";COUNT=4")
        assert klass.duration_minutes == 45 and klass.timezone == "Europe/Paris"
        schedules = (
            db.session.execute(
                db.select(Schedule).filter_by(class_id=klass.id).order_by(Schedule.starts_at)
            )
            .scalars()
            .all()
        )
        assert len(schedules) == 4
        local_start = schedules[0].starts_at.astimezone(ZoneInfo("Europe/Paris"))
        assert local_start.strftime("%Y-%m-%d %H:%M") == first.strftime("%Y-%m-%d %H:%M")
        first_schedule = schedules[0].id

    page.locator(f'a[href="/schedules/{first_schedule}"]').first.click()
    expect(page.get_by_role("button", name="Start the class")).to_be_visible()
    with page.context.expect_page() as meeting_tab:
        page.get_by_role("button", name="Start the class").click()
    assert "fake.example/join/" in meeting_tab.value.url
    link = page.get_by_role("link", name="Open the class in a new tab")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", re.compile(r"role=moderator"))
    expect(page.get_by_role("button", name="End the class")).to_be_visible()
    assert len(FAKE.created) == 1
    with live_server.app.app_context():
        meeting = db.session.execute(
            db.select(Meeting).filter_by(schedule_id=first_schedule)
        ).scalar_one()
        assert meeting.status == "running"


def test_a_student_waits_for_the_teacher_and_is_let_in(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    _, schedule_id = live_server.class_with(
        teacher, [student], title="Chemistry", starts_in=timedelta(minutes=5)
    )
    live_server.class_with(teacher, [student], title="Biology later", starts_in=timedelta(hours=3))

    student_page = sign_in(new_context(), student.email)
    upcoming = student_page.locator("#upcoming")
    chemistry = upcoming.locator("li", has_text="Chemistry")
    biology = upcoming.locator("li", has_text="Biology later")
    # Live from 10 minutes before the start; the later class is not joinable yet.
    expect(chemistry.get_by_role("link", name=re.compile("^Join"))).to_be_visible()
    expect(biology.get_by_role("link", name=re.compile("^Join"))).to_be_hidden()
    expect(biology).to_contain_text("opens")

    chemistry.get_by_role("link", name=re.compile("^Join")).click()
    expect(student_page.locator("#room-status")).to_contain_text("Waiting for the teacher")
    expect(student_page.get_by_role("link", name="Open the class in a new tab")).to_be_hidden()

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{schedule_id}")
    with teacher_page.context.expect_page():
        teacher_page.get_by_role("button", name="Start the class").click()
    expect(teacher_page.get_by_role("button", name="End the class")).to_be_visible()

    # The waiting page notices by itself and lets the student in with a viewer link.
    link = student_page.get_by_role("link", name="Open the class in a new tab")
    expect(link).to_be_visible(timeout=20_000)
    expect(link).to_have_attribute("href", re.compile(rf"user={student.id}&role=viewer"))
    expect(student_page.locator("#room-error")).to_be_hidden()

    teacher_page.once("dialog", lambda dialog: dialog.accept())
    teacher_page.get_by_role("button", name="End the class").click()
    expect(teacher_page.locator("#room-status")).to_contain_text("This class has ended")
    expect(student_page.locator("#room-status")).to_contain_text(
        "This class has ended", timeout=25_000
    )


def test_an_admin_blocks_a_user_who_then_cannot_join(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    admin = live_server.user("admin", "Ada Admin")
    teacher = live_server.user("teacher", "Tim Teacher")
    student = live_server.user("student", "Bob Blocked")
    _, schedule_id = live_server.class_with(
        teacher, [student], title="History", starts_in=timedelta(minutes=2)
    )
    live_server.start(teacher, schedule_id)

    admin_page = sign_in(new_context(), admin.email)
    admin_page.get_by_role("link", name="Administration").click()
    admin_page.get_by_role("link", name="Users").first.click()
    row = admin_page.locator("#user-table tr", has_text="Bob Blocked")
    row.get_by_role("button", name="Block Bob Blocked").click()
    dialog = admin_page.get_by_role("dialog")
    dialog.get_by_role("button", name="Block").click()
    expect(dialog.get_by_role("alert")).to_contain_text(
        "Give a reason"
    )  # validation; the dialog stays
    dialog.get_by_label("Reason (shown to the user)").fill("Disruptive behaviour")
    dialog.get_by_role("button", name="Block").click()
    expect(admin_page.locator("#flash")).to_contain_text("Bob Blocked is blocked")
    expect(admin_page.locator("#user-table tr", has_text="Bob Blocked")).to_contain_text("blocked")

    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{schedule_id}")
    expect(student_page.locator("#room-error")).to_have_text(
        "You are blocked on this portal: Disruptive behaviour"
    )
    expect(student_page.get_by_role("link", name="Open the class in a new tab")).to_be_hidden()
    # The API refuses too, whatever the page shows.
    answer = student_page.evaluate(
        """async (sid) => { const r = await fetch(`/api/schedules/${sid}/join`, {method: "POST",
             headers: {"X-CSRF-TOKEN": Portal.cookie("csrf_access_token")}});
             return [r.status, await r.json()]; }""",
        schedule_id,
    )
    assert answer[0] == 403 and answer[1]["error"]["code"] == "blocked"

    # Lifting the block lets the student in.
    admin_page.locator("#user-table tr", has_text="Bob Blocked").get_by_role(
        "button", name="Unblock Bob Blocked"
    ).click()
    expect(admin_page.locator("#flash")).to_contain_text("Bob Blocked is unblocked")
    student_page.reload()
    expect(student_page.get_by_role("link", name="Open the class in a new tab")).to_be_visible()
