"""Slides and the whiteboard in the class room, in headless Chromium against the real
realtime server: the teacher's page turns and strokes reach the students' viewers, a late
joiner opens on the current page with its strokes, and a student who browsed away comes
back with "Follow the teacher". Strokes are checked by reading back the canvas pixels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from content_utils import make_pdf
from held_answers import HeldJoinAnswer
from playwright.sync_api import expect

from portal.extensions import db

pytestmark = pytest.mark.browser

CENTRE_PIXEL = """() => {
  const c = document.getElementById("board-canvas");
  const x = Math.floor(c.width / 2);
  const y = Math.floor(c.height / 2);
  const d = c.getContext("2d").getImageData(x, y, 1, 1).data;
  return [d[0], d[1], d[2], d[3]];
}"""


def upload_deck(live_server, teacher, class_id: int, pages: int) -> int:
    from portal.core import slides
    from portal.core.models import User

    with live_server.app.app_context():
        deck = slides.upload_slide(
            db.session.get(User, teacher.id), class_id, "lesson.pdf", make_pdf(pages)
        )
        db.session.commit()
        return deck.id


def on_page(page, number: int, strokes: int) -> None:
    """The viewer shows slide page `number` with `strokes` strokes painted on it."""
    view = page.locator("#slide-view")
    expect(view).to_have_attribute("data-page", str(number))
    expect(view).to_have_attribute("data-painted-strokes", str(strokes))


def is_red(rgba: list[int]) -> bool:
    r, g, b, a = rgba
    return a > 200 and r > 150 and g < 90 and b < 90


def draw_across_the_middle(page) -> None:
    # The mouse only reaches what is on screen: the board sits below the room's head and
    # panels, so scroll to it first as a person would.
    canvas = page.locator("#board-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=12)
    page.mouse.up()


def test_students_follow_the_teacher_s_pages_and_strokes(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    latecomer = live_server.user("student", "Lou Late")
    class_id, sid = live_server.class_with(
        teacher, [student, latecomer], title="Optics", starts_in=timedelta(minutes=-1)
    )
    upload_deck(live_server, teacher, class_id, pages=3)

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{sid}")
    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{sid}")
    expect(student_page.locator("#board-empty")).to_contain_text("not presenting")
    expect(student_page.locator("#room")).to_have_attribute("data-live", "connected")

    # The teacher presents the deck and turns to page 2: the student's viewer follows.
    teacher_page.get_by_label("Show").select_option(label="lesson.pdf")
    teacher_page.get_by_role("button", name="Present").click()
    on_page(teacher_page, 1, 0)
    teacher_page.get_by_role("button", name="Next page").click()
    on_page(teacher_page, 2, 0)
    on_page(student_page, 2, 0)
    expect(student_page.locator("#board-page-label")).to_have_text("Page 2 of 3")

    # The teacher draws a red line across the middle: it is painted on the student's canvas.
    draw_across_the_middle(teacher_page)
    on_page(teacher_page, 2, 1)
    on_page(student_page, 2, 1)
    assert is_red(student_page.evaluate(CENTRE_PIXEL))

    # A late joiner opens on the current page with its stroke.
    late_page = sign_in(new_context(), latecomer.email, next_path=f"/schedules/{sid}")
    on_page(late_page, 2, 1)
    assert is_red(late_page.evaluate(CENTRE_PIXEL))

    # The student looks back at page 1; the teacher's next turn does not move them, it
    # only updates the button that brings them back.
    student_page.get_by_role("button", name="Previous page").click()
    on_page(student_page, 1, 0)
    follow = student_page.get_by_role("button", name="Follow the teacher")
    expect(follow).to_be_visible()
    teacher_page.locator("#slide-view").focus()
    teacher_page.keyboard.press("ArrowRight")  # keyboard page turn
    on_page(teacher_page, 3, 0)
    on_page(late_page, 3, 0)
    expect(follow).to_contain_text("Teacher is on page 3")
    on_page(student_page, 1, 0)
    follow.click()
    on_page(student_page, 3, 0)
    expect(follow).to_be_hidden()
    # Back on page 2 the stroke is still there for everyone.
    teacher_page.keyboard.press("ArrowLeft")
    on_page(student_page, 2, 1)
    assert is_red(student_page.evaluate(CENTRE_PIXEL))


def test_a_student_without_the_floor_has_no_drawing_tools(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, sid = live_server.class_with(
        teacher, [student], title="Optics", starts_in=timedelta(minutes=-1)
    )
    upload_deck(live_server, teacher, class_id, pages=2)
    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{sid}")
    teacher_page.get_by_label("Show").select_option(label="Blank board")
    teacher_page.get_by_role("button", name="Present").click()
    expect(teacher_page.locator("#board-page-label")).to_have_text("Board page 1 of 1")
    expect(teacher_page.locator("#board-tools")).to_be_visible()
    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{sid}")
    expect(student_page.locator("#board-page-label")).to_have_text("Board page 1 of 1")
    expect(student_page.locator("#board-tools")).to_be_hidden()
    expect(student_page.locator("#board-undo")).to_be_hidden()


def test_a_join_answer_older_than_the_present_leaves_the_board_and_its_tools(
    live_server, new_context, sign_in
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    _, sid = live_server.class_with(teacher, [], title="Optics", starts_in=timedelta(minutes=-1))
    context = new_context()
    socket = HeldJoinAnswer(context)
    teacher_page = sign_in(context, teacher.email, next_path=f"/schedules/{sid}")
    expect(teacher_page.locator("#board-empty")).to_be_visible()
    # The join was answered "nothing presented" and that answer is held: the page is not
    # live yet, so Present goes over REST and its answer is shown first.
    socket.wait_for_answer(teacher_page)
    teacher_page.get_by_label("Show").select_option(label="Blank board")
    teacher_page.get_by_role("button", name="Present").click()
    expect(teacher_page.locator("#board-page-label")).to_have_text("Board page 1 of 1")
    expect(teacher_page.locator("#board-tools")).to_be_visible()
    socket.release()
    expect(teacher_page.locator("#room")).to_have_attribute("data-live", "connected")
    expect(teacher_page.locator("#board-tools")).to_be_visible()
    expect(teacher_page.locator("#board-empty")).to_be_hidden()
