"""The room's polls and floor panes keep the newest state whatever the order in which the
join answer, pushes and refreshes reach the page, in headless Chromium against the real
realtime server: the answers are held back (held_answers) so that one read before a change
arrives after the change's own push or answer, as it can on a loaded server."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from held_answers import HeldFirstResponse, HeldJoinAnswer, HeldPushes
from playwright.sync_api import expect

from portal.core import unit_of_work
from portal.extensions import db

pytestmark = pytest.mark.browser


def acting(live_server, user, change):
    """change(actor) as `user` in one committed unit of work (its events follow the commit)."""
    from portal.core.models import User

    with live_server.app.app_context(), unit_of_work.scope():
        return change(db.session.get(User, user.id))


def open_poll(live_server, teacher, sid: int) -> dict:
    from portal.core import polls

    def create_and_open(actor):
        poll = polls.create_poll(actor, sid, question="Is light a wave?", options=["Yes", "No"])
        return polls.open_poll(actor, poll["id"])

    return acting(live_server, teacher, create_and_open)


def running_class(live_server, students: int) -> tuple:
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    pupils = [live_server.user("student", f"Student{n} Pupil") for n in range(students)]
    _, sid = live_server.class_with(
        teacher, pupils, title="Optics", starts_in=timedelta(minutes=-1)
    )
    live_server.start(teacher, sid)
    return teacher, pupils, sid


def test_a_join_answer_read_before_a_poll_opened_leaves_the_poll_on_the_page(
    live_server, new_context, sign_in
):
    teacher, (student,), sid = running_class(live_server, 1)
    context = new_context()
    socket = HeldJoinAnswer(context)
    page = sign_in(context, student.email, next_path=f"/schedules/{sid}")
    # The room's answer "no poll" is held; the poll:opened push that follows is not.
    socket.wait_for_answer(page)
    open_poll(live_server, teacher, sid)
    ballot = page.locator("#panel-polls form.poll-vote")
    expect(ballot).to_contain_text("Is light a wave?")
    socket.release()
    expect(page.locator("#room")).to_have_attribute("data-live", "connected")
    expect(ballot).to_contain_text("Is light a wave?")
    expect(page.locator("#poll-list")).not_to_contain_text("No poll yet.")


def test_poll_results_counted_before_the_last_vote_do_not_replace_its_count(
    live_server, new_context, sign_in
):
    from portal.core import chat, polls

    teacher, (first, second), sid = running_class(live_server, 2)
    poll = open_poll(live_server, teacher, sid)
    yes = poll["options"][0]["id"]
    context = new_context()
    pushes = HeldPushes(context, "poll:results", count=1)
    page = sign_in(context, teacher.email, next_path=f"/schedules/{sid}")
    expect(page.locator("#room")).to_have_attribute("data-live", "connected")
    counts = page.locator("#panel-polls .poll-results")
    expect(counts).to_contain_text("Yes: 0 (0%)")
    acting(live_server, first, lambda actor: polls.vote(actor, poll["id"], [yes]))
    pushes.wait_for_held(page)  # the count after the first vote comes late
    acting(live_server, second, lambda actor: polls.vote(actor, poll["id"], [yes]))
    expect(counts).to_contain_text("Yes: 2 (100%)")
    pushes.release()
    # A chat message sent after the release on the same socket: once it shows, the late
    # count has been handled.
    acting(live_server, first, lambda actor: chat.post_message(actor, sid, "done"))
    expect(page.locator("#chat-log")).to_contain_text("done")
    expect(counts).to_contain_text("Yes: 2 (100%)")


def test_a_floor_read_answered_after_a_newer_one_leaves_the_raised_hand_in_the_queue(
    live_server, new_context, sign_in
):
    from portal.core import floor

    teacher, (student,), sid = running_class(live_server, 1)
    context = new_context()
    reads = HeldFirstResponse(context, f"/api/schedules/{sid}/floor")
    page = sign_in(context, teacher.email, next_path=f"/schedules/{sid}")
    expect(page.locator("#room")).to_have_attribute("data-live", "connected")
    # The page's first read (an empty queue) is held; the one on connecting is answered.
    reads.wait_for_answered(page)
    acting(live_server, student, lambda actor: floor.raise_hand(actor, sid))
    queue = page.locator("#hands-queue li")
    expect(queue).to_have_count(1)
    expect(queue).to_contain_text(student.name)
    with page.expect_response(re.compile(rf"/api/schedules/{sid}/floor$")):
        reads.release()
    page.evaluate("() => new Promise((done) => setTimeout(done, 300))")  # let it be shown
    expect(queue).to_have_count(1)
    expect(page.locator("#hands-empty")).to_be_hidden()


def test_chat_messages_show_in_the_order_they_were_sent_whatever_their_arrival(
    live_server, new_context, sign_in
):
    """Two realtime processes can deliver a message after a later one of the other's: the
    log keeps the order the portal stored them in."""
    from portal.core import chat

    teacher, (first, second), sid = running_class(live_server, 2)
    context = new_context()
    pushes = HeldPushes(context, "chat:message", count=1)
    page = sign_in(context, teacher.email, next_path=f"/schedules/{sid}")
    expect(page.locator("#room")).to_have_attribute("data-live", "connected")
    acting(live_server, first, lambda actor: chat.post_message(actor, sid, "first question"))
    pushes.wait_for_held(page)  # the first message comes late
    acting(live_server, second, lambda actor: chat.post_message(actor, sid, "second question"))
    log = page.locator("#chat-log .chat-message p")
    expect(log).to_have_text(["second question"])
    pushes.release()
    expect(log).to_have_text(["first question", "second question"])
