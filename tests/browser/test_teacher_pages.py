"""Teacher tools on the class page: enrol by search and CSV, edit, cancel an occurrence,
and the week calendar showing a series."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.core.models import Class, Enrolment, Schedule
from portal.extensions import db

pytestmark = pytest.mark.browser


def test_teacher_enrols_by_search_and_csv_then_removes_one(
    live_server, new_context, sign_in, tmp_path
):
    teacher = live_server.user("teacher", "Tom Teacher")
    ada = live_server.user("student", "Ada Lovelace")
    alan = live_server.user("student", "Alan Turing")
    grace = live_server.user("student", "Grace Hopper")
    live_server.user("teacher", "Other Teacher", email="other@tests.school")
    class_id, schedule_id = live_server.class_with(
        teacher, [], title="Computing", starts_in=timedelta(days=1)
    )

    page = sign_in(new_context(), teacher.email, next_path=f"/classes/{class_id}")
    expect(page.get_by_text("No student enrolled yet.")).to_be_visible()
    page.get_by_label("Find students to add").fill("lovelace")
    page.get_by_role("button", name="Search").click()
    # Not yet this teacher's student: the name and a masked email, not her address.
    expect(page.locator("#student-results")).to_contain_text("Ada Lovelace <a***@tests.school>")
    expect(page.locator("#student-results")).not_to_contain_text(ada.email)
    page.get_by_role("button", name="Add Ada Lovelace").click()
    expect(page.locator("#enrolled")).to_contain_text(ada.email)  # now she is
    expect(page.locator("#enrolled")).to_contain_text("Ada Lovelace")
    expect(page.locator("[data-student-count]")).to_have_text("(1)")

    csv = tmp_path / "class.csv"
    csv.write_text(
        f"name,email\nAlan,{alan.email.upper()}\nGrace,{grace.email}\nAda,{ada.email}\n"
        "Nobody,nobody@tests.school\nTeacher,other@tests.school\n"
    )
    page.get_by_label("Import a CSV of email addresses").set_input_files(str(csv))
    page.get_by_role("button", name="Import students").click()
    result = page.locator("#csv-result")
    expect(result).to_contain_text("2 students enrolled, 1 already enrolled")
    expect(result).to_contain_text(
        "No student account for: nobody@tests.school, other@tests.school"
    )
    expect(page.locator("[data-student-count]")).to_have_text("(3)")

    page.get_by_role("button", name="Remove Alan Turing").click()
    expect(page.locator("#enrolled")).not_to_contain_text("Alan Turing")
    with live_server.app.app_context():
        enrolled = set(
            db.session.execute(db.select(Enrolment.user_id).filter_by(class_id=class_id)).scalars()
        )
        assert enrolled == {ada.id, grace.id}

    # Blocking from this class only: the student sees why on the class room page.
    page.get_by_role("button", name="Block Grace Hopper from this class").click()
    page.get_by_role("dialog").get_by_label("Reason (shown to the student)").fill(
        "Cheating in the quiz"
    )
    page.get_by_role("dialog").get_by_role("button", name="Block").click()
    expect(page.locator("#flash")).to_contain_text("Grace Hopper is blocked from this class")
    expect(page.locator("#enrolled tr", has_text="Grace Hopper")).to_contain_text(
        "Cheating in the quiz"
    )
    student_page = sign_in(new_context(), grace.email, next_path=f"/schedules/{schedule_id}")
    expect(student_page.locator("#room-error")).to_have_text(
        "You are blocked from this class: Cheating in the quiz"
    )


def test_teacher_edits_a_class_and_cancels_one_occurrence(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tom Teacher")
    page = sign_in(new_context(), teacher.email)
    page.goto("/classes/new")
    page.get_by_label("Title").fill("Chess club")
    page.get_by_label("First date").fill("2031-03-03")  # a Monday
    page.get_by_label("Start time").fill("17:30")
    page.get_by_label("Weekly").check()
    page.get_by_label("Mon", exact=True).check()
    page.get_by_label("on", exact=True).check()
    page.get_by_label("Last date").fill("2031-03-24")
    expect(page.locator("#rrule-preview")).to_contain_text(
        "FREQ=WEEKLY;BYDAY=MO;UNTIL=20310324T235959"
    )
    page.get_by_role("button", name="Create class").click()
    expect(page.locator("#flash")).to_contain_text("4 occurrences")

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Title").fill("Chess club (advanced)")
    page.get_by_label("Record the class").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chess club (advanced)")
    expect(page.locator("#class-head")).to_contain_text("recorded")

    # Move the last one by an hour (wall-clock time of the class's zone). The heading is
    # parsed before the page's deferred scripts bind the buttons: wait for them.
    page.wait_for_load_state("load")
    # Times as the page's language writes them (Babel's English: "5:30 PM", narrow space).
    page.get_by_role("button", name="Move the occurrence on Mon Mar 24, 2031, 5:30\u202fPM").click()
    move = page.get_by_role("dialog")
    expect(move.get_by_label("Start time")).to_have_value("17:30")
    move.get_by_label("Start time").fill("18:30")
    move.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Occurrence moved")
    expect(
        page.get_by_role("button", name="Move the occurrence on Mon Mar 24, 2031, 6:30\u202fPM")
    ).to_be_visible()

    page.once("dialog", lambda d: d.accept())
    page.get_by_role(
        "button", name="Cancel the occurrence on Mon Mar 10, 2031, 5:30\u202fPM"
    ).click()
    expect(page.locator("#flash")).to_contain_text("Occurrence cancelled")
    with live_server.app.app_context():
        klass = db.session.execute(
            db.select(Class).filter_by(title="Chess club (advanced)")
        ).scalar_one()
        assert klass.record is True
        statuses = [
            s.status
            for s in db.session.execute(
                db.select(Schedule).filter_by(class_id=klass.id).order_by(Schedule.starts_at)
            ).scalars()
        ]
        assert statuses == ["scheduled", "cancelled", "scheduled", "scheduled"]
        last = (
            db.session.execute(
                db.select(Schedule).filter_by(class_id=klass.id).order_by(Schedule.starts_at.desc())
            )
            .scalars()
            .first()
        )
        assert (
            last.starts_at.isoformat() == "2031-03-24T17:30:00+00:00"
        )  # 18:30 in Paris (UTC+1 then)

    # The week calendar of that week shows it at 17:30 school time, struck out when cancelled.
    page.goto("/?week=2031-03-10")
    day = page.locator(".week .day", has_text="Mon 10")
    expect(day).to_contain_text("5:30\u202fPM")
    expect(day.locator(".slot.cancelled")).to_contain_text("Chess club (advanced)")
    page.get_by_role("link", name="Next week").click()
    expect(page.locator(".week .day", has_text="Mon 17").locator(".slot")).not_to_have_class(
        "slot cancelled"
    )
