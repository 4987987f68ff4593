"""The class room over the live socket, as people see it in two or three browsers: chat and
polls are pushed (the page's network log shows no periodic REST polling), the waiting page
turns into the room on the pushed start and joins over the socket (REST when the socket is
down or does not answer), "who is here" is the attendance report's truth,
ending is calm, and without the socket the page says so and falls back to REST."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from content_utils import make_png
from embed_stub import EmbedStub
from playwright.sync_api import expect

from portal.core.models import Attendance, BackendConfig, Class, Meeting
from portal.extensions import db

pytestmark = pytest.mark.browser

# REST endpoints a page would poll if it were not live.
POLLED = re.compile(r"/api/schedules/\d+/(chat|polls|presence|meeting)\b|/api/polls/")


@pytest.fixture
def live_plugins():
    return [EmbedStub()]


def connected(page) -> None:
    expect(page.locator("#room")).to_have_attribute("data-live", "connected")


def record_api(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if "/api/" in request.url else None)
    return seen


def polled(urls: list[str]) -> list[str]:
    return [u for u in urls if POLLED.search(u)]


def open_room(sign_in, new_context, user, sid):
    page = sign_in(new_context(), user.email, next_path=f"/schedules/{sid}")
    connected(page)
    return page


def test_waiting_student_enters_on_the_pushed_start_and_chat_and_polls_arrive_live(
    live_server, new_context, sign_in
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    _, sid = live_server.class_with(
        teacher, [student], title="Physics", starts_in=timedelta(minutes=2)
    )

    student_page = open_room(sign_in, new_context, student, sid)
    student_calls = record_api(student_page)
    # The REST join is out of order for this student: the page must join over the socket.
    student_page.route(f"**/api/schedules/{sid}/join", lambda route: route.abort())
    expect(student_page.locator("#room-status")).to_contain_text("Waiting for the teacher")
    teacher_page = open_room(sign_in, new_context, teacher, sid)
    teacher_calls = record_api(teacher_page)

    with teacher_page.context.expect_page():
        teacher_page.get_by_role("button", name="Start the class").click()
    # The student's page turns into the room by itself: the start was pushed, and the join
    # target came as the ack of `class:join` on the socket the page holds.
    link = student_page.get_by_role("link", name="Open the class in a new tab")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", re.compile(f"user={student.id}&role=viewer"))
    assert not [u for u in student_calls if u.endswith(f"/api/schedules/{sid}/join")], student_calls
    expect(student_page.locator("#room-error")).to_be_hidden()

    teacher_page.get_by_text("New poll").click()
    teacher_page.get_by_label("Question").fill("Is light a wave?")
    teacher_page.get_by_role("textbox", name="Answers (one per line)").fill("Yes\nNo\nBoth")
    teacher_page.get_by_role("button", name="Create and open").click()
    poll = student_page.locator("#panel-polls form.poll-vote")
    expect(poll).to_contain_text("Is light a wave?")
    poll.get_by_label("Both").check()
    poll.get_by_role("button", name="Vote").click()
    expect(teacher_page.locator("#panel-polls")).to_contain_text(re.compile(r"Both: 1 \(100%\)"))
    teacher_page.get_by_role("button", name="Show results to the class").click()
    expect(student_page.locator("#panel-polls .poll-results")).to_contain_text("Both: 1 (100%)")

    student_page.get_by_label("Message").fill("Both, it depends")
    student_page.get_by_role("button", name="Send").click()
    expect(teacher_page.locator("#chat-log")).to_contain_text("Both, it depends")
    teacher_page.get_by_label("Message").fill("Right!")
    teacher_page.get_by_role("button", name="Send").click()
    expect(student_page.locator("#chat-log")).to_contain_text("Right!")

    # Everything above went over the socket: not one REST call to the live panel's endpoints.
    assert polled(student_calls) == [] and polled(teacher_calls) == [], (
        student_calls,
        teacher_calls,
    )
    expect(student_page.locator("#live-status")).to_be_hidden()


def test_a_file_shared_in_the_room_is_pushed_to_the_students_panel(
    live_server, new_context, sign_in, tmp_path
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, sid = live_server.class_with(
        teacher, [student], title="Geography", starts_in=timedelta(minutes=2)
    )
    student_page = open_room(sign_in, new_context, student, sid)
    expect(student_page.locator("#media-list")).to_contain_text("Nothing shared yet.")
    teacher_page = open_room(sign_in, new_context, teacher, sid)
    student_calls = record_api(student_page)
    shared = tmp_path / "river-map.png"
    shared.write_bytes(make_png((32, 32)))
    teacher_page.locator("#media-file").set_input_files(str(shared))
    teacher_page.get_by_role("button", name="Share file").click()
    expect(teacher_page.locator("#media-list")).to_contain_text("river-map.png")
    # The student's list follows by itself: the share was pushed, and the page fetched
    # the list once, not on a timer.
    expect(student_page.locator("#media-list")).to_contain_text("river-map.png")
    assert [u for u in student_calls if "/media" in u] == [
        f"{live_server.url}/api/classes/{class_id}/media?schedule_id={sid}"
    ]


def test_who_is_here_matches_the_attendance_report(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    classmate = live_server.user("student", "Cleo Classmate")
    _, sid = live_server.class_with(
        teacher, [student, classmate], title="Maths", starts_in=timedelta(minutes=2)
    )

    teacher_page = open_room(sign_in, new_context, teacher, sid)
    student_page = open_room(sign_in, new_context, student, sid)  # waiting before the start
    expect(teacher_page.locator("#presence-count")).to_have_text("(2)")
    with teacher_page.context.expect_page():
        teacher_page.get_by_role("button", name="Start the class").click()
    classmate_page = open_room(sign_in, new_context, classmate, sid)  # arrives once it runs

    presence = teacher_page.locator("#panel-presence")
    report = teacher_page.locator("#panel-attendance")
    expect(presence).to_have_attribute("data-count", "3")
    expect(report).to_have_attribute("data-here-now-count", "3")
    expect(report).to_have_attribute("data-present-count", "3")
    expect(student_page.locator("#presence-list")).to_contain_text("Cleo Classmate")

    classmate_page.close()
    expect(presence).to_have_attribute("data-count", "2")
    expect(report).to_have_attribute("data-here-now-count", "2")
    expect(report).to_have_attribute("data-present-count", "3")  # she was there, and left
    with live_server.app.app_context():
        meeting = db.session.execute(db.select(Meeting).filter_by(schedule_id=sid)).scalar_one()
        rows = {
            r.user_id: r
            for r in db.session.execute(
                db.select(Attendance).filter_by(meeting_id=meeting.id)
            ).scalars()
        }
        assert set(rows) == {teacher.id, student.id, classmate.id}
        assert rows[classmate.id].left_at is not None
        assert rows[student.id].left_at is None and rows[teacher.id].left_at is None


def use_backend(live_server, class_id: int, mode: str) -> None:
    with live_server.app.app_context():
        config = BackendConfig(
            name=f"Embedded {mode}", backend="embedstub", enabled=True, settings={"mode": mode}
        )
        db.session.add(config)
        db.session.flush()
        db.session.get(Class, class_id).backend_config_id = config.id
        db.session.commit()


def test_ending_moves_every_page_to_a_calm_ended_state(live_server, new_context, sign_in, snap):
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    classmate = live_server.user("student", "Cleo Classmate")
    class_id, sid = live_server.class_with(
        teacher, [student, classmate], title="Drama", starts_in=timedelta(minutes=1)
    )
    use_backend(live_server, class_id, "custom")

    teacher_page = open_room(sign_in, new_context, teacher, sid)
    teacher_page.get_by_role("button", name="Start the class").click()
    expect(teacher_page.locator("#fake-sfu")).to_contain_text("Publishing to /custom/")
    pages = [teacher_page]
    problems: list[str] = []
    for person in (student, classmate):
        page = open_room(sign_in, new_context, person, sid)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        expect(page.locator("#fake-sfu")).to_contain_text("Watching /custom/")
        # The plugin's mount got the room's context.
        expect(page.locator("#room-status")).to_contain_text(
            f"Custom player for occurrence {sid} with the live panel"
        )
        pages.append(page)

    teacher_page.once("dialog", lambda d: d.accept())
    teacher_page.get_by_role("button", name="End the class").click()
    for page in pages:
        expect(page.locator("#room-status")).to_have_text("This class has ended.")
        expect(page.locator("#stage")).to_contain_text("The class has ended.")
        expect(page.locator("#room-error")).to_be_hidden()
        expect(page.locator("#fake-sfu")).to_have_count(0)
        assert page.evaluate("window.__customUnmounted") == 1  # the backend's room was unmounted
        expect(
            page.get_by_role("button", name=re.compile("Join|Start the class|Enter the meeting"))
        ).to_have_count(0)
    assert problems == []
    snap(pages[1], "room-ended-student")

    # The ended occurrence no longer offers Join / Open room elsewhere either.
    for page, label in ((pages[1], "Join"), (teacher_page, "Open room")):
        page.goto("/")
        item = page.locator(f'#upcoming [data-schedule-id="{sid}"]')
        expect(item).to_contain_text("ended")
        expect(item.get_by_role("link", name=re.compile(label))).to_have_count(0)
        page.goto(f"/classes/{class_id}")
        expect(page.get_by_role("link", name=re.compile(f"^{label}"))).to_have_count(0)


def test_without_the_socket_the_page_says_so_and_falls_back_to_rest(
    live_server, new_context, sign_in, snap
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    _, sid = live_server.class_with(
        teacher, [student], title="History", starts_in=timedelta(minutes=2)
    )

    # The student's network cannot reach the realtime server.
    offline = new_context()
    offline.route(re.compile(r".*/socket\.io/.*"), lambda route: route.abort())
    offline.route_web_socket(re.compile(r".*/socket\.io/.*"), lambda ws: ws.close(code=1011))
    student_page = sign_in(offline, student.email, next_path=f"/schedules/{sid}")
    calls = record_api(student_page)
    expect(student_page.locator("#live-status")).to_contain_text("Live updates are unavailable")
    expect(student_page.locator("#room")).to_have_attribute("data-live", "fallback")

    teacher_page = open_room(sign_in, new_context, teacher, sid)
    with teacher_page.context.expect_page():
        teacher_page.get_by_role("button", name="Start the class").click()
    expect(student_page.get_by_role("link", name="Open the class in a new tab")).to_be_visible(
        timeout=20_000
    )
    teacher_page.get_by_label("Message").fill("Can you read me?")
    teacher_page.get_by_role("button", name="Send").click()
    expect(student_page.locator("#chat-log")).to_contain_text("Can you read me?")
    student_page.get_by_label("Message").fill("Yes, by REST")
    student_page.get_by_role("button", name="Send").click()
    expect(teacher_page.locator("#chat-log")).to_contain_text(
        "Yes, by REST"
    )  # pushed to the live teacher
    snap(student_page, "room-rest-fallback")
    assert any(f"/api/schedules/{sid}/meeting" in u for u in calls) and any(
        f"/api/schedules/{sid}/chat" in u for u in calls
    )
    # No socket: the join went by REST.
    assert any(u.endswith(f"/api/schedules/{sid}/join") for u in calls), calls


def test_a_socket_join_that_gets_no_answer_falls_back_to_the_rest_join(
    live_server, new_context, sign_in
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    _, sid = live_server.class_with(
        teacher, [student], title="Chemistry", starts_in=timedelta(minutes=2)
    )

    # The student's socket works, except that its `class:join` never reaches the server
    # (a realtime process too busy to answer looks the same to the page).
    context = new_context()
    dropped: list[str] = []

    def relay(ws) -> None:
        server = ws.connect_to_server()

        def to_server(message) -> None:
            if isinstance(message, str) and '"class:join"' in message:
                dropped.append(message)
                return
            server.send(message)

        ws.on_message(to_server)
        server.on_message(lambda message: ws.send(message))

    context.route_web_socket(re.compile(r".*/socket\.io/.*"), relay)
    student_page = sign_in(context, student.email, next_path=f"/schedules/{sid}")
    connected(student_page)
    calls = record_api(student_page)

    teacher_page = open_room(sign_in, new_context, teacher, sid)
    with teacher_page.context.expect_page():
        teacher_page.get_by_role("button", name="Start the class").click()
    link = student_page.get_by_role("link", name="Open the class in a new tab")
    expect(link).to_be_visible(timeout=20_000)
    expect(link).to_have_attribute("href", re.compile(f"user={student.id}&role=viewer"))
    assert dropped, "the page asked over the socket first"
    assert any(u.endswith(f"/api/schedules/{sid}/join") for u in calls), calls
    expect(student_page.locator("#room-error")).to_be_hidden()
