"""The class room's live panel (chat, polls) and the rating form, driven in two browser
contexts against the real live panel (Socket.IO) and feedback API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.core.models import Feedback
from portal.extensions import db

pytestmark = pytest.mark.browser


def test_student_joins_votes_chats_and_rates_the_class(live_server, new_context, sign_in, snap):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    # Started a minute ago: ratings are for occurrences that have begun.
    _, sid = live_server.class_with(
        teacher, [student], title="Physics", starts_in=timedelta(minutes=-1)
    )

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{sid}")
    with teacher_page.context.expect_page():
        teacher_page.get_by_role("button", name="Start the class").click()
    expect(teacher_page.get_by_role("button", name="End the class")).to_be_visible()

    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{sid}")
    expect(student_page.get_by_role("link", name="Open the class in a new tab")).to_be_visible()

    # The teacher asks a question.
    teacher_page.get_by_text("New poll").click()
    teacher_page.get_by_label("Question").fill("Is light a wave?")
    teacher_page.get_by_role("textbox", name="Answers (one per line)").fill("Yes\nNo\nBoth")
    teacher_page.get_by_role("button", name="Create and open").click()

    # The student sees it appear, votes, and chats.
    poll = student_page.locator("#panel-polls form.poll-vote")
    expect(poll).to_contain_text("Is light a wave?", timeout=15_000)
    poll.get_by_label("Both").check()
    poll.get_by_role("button", name="Vote").click()
    expect(student_page.locator("#flash")).to_contain_text("Vote recorded")
    student_page.get_by_label("Message").fill("Both, depending on the experiment!")
    student_page.get_by_role("button", name="Send").click()
    expect(student_page.locator("#chat-log")).to_contain_text("Both, depending on the experiment!")

    # The teacher sees the vote count and the message, then shows the results to the class.
    expect(teacher_page.locator("#panel-polls")).to_contain_text(
        re.compile(r"Both: 1 \(100%\)"), timeout=15_000
    )
    expect(student_page.locator("#panel-polls .poll-results")).to_have_count(0)
    teacher_page.get_by_role("button", name="Show results to the class").click()
    expect(student_page.locator("#panel-polls .poll-results")).to_contain_text(
        "Both: 1 (100%)", timeout=15_000
    )
    expect(teacher_page.locator("#chat-log")).to_contain_text("Sam Student", timeout=15_000)
    expect(teacher_page.locator("#chat-log")).to_contain_text("Both, depending on the experiment!")
    snap(teacher_page, "room-live-teacher")
    snap(student_page, "room-live-student")

    # After the class the student rates it.
    teacher_page.once("dialog", lambda d: d.accept())
    teacher_page.get_by_role("button", name="End the class").click()
    rating = student_page.locator("#feedback")
    expect(rating).to_be_visible(timeout=25_000)
    rating.get_by_role("button", name="Send rating").click()
    expect(rating.get_by_role("alert")).to_contain_text("Choose a rating")
    rating.get_by_label("4 out of 5").check()
    rating.get_by_label("Comment").fill("Great demo")
    rating.get_by_role("button", name="Send rating").click()
    expect(rating).to_contain_text("Thank you for your rating")
    snap(student_page, "room-rated")
    with live_server.app.app_context():
        rows = db.session.execute(
            db.select(Feedback.user_id, Feedback.schedule_id, Feedback.rating, Feedback.comment)
        ).all()
        assert [tuple(r) for r in rows] == [(student.id, sid, 4, "Great demo")]
