"""Slides, recordings and the feedback summary on the class page, against the class content API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfWriter

from portal.core.models import Feedback, Recording
from portal.extensions import db

pytestmark = pytest.mark.browser


def test_teacher_uploads_slides_and_controls_recordings(
    live_server, new_context, sign_in, tmp_path
):
    config_id = live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tom Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, sid = live_server.class_with(
        teacher, [student], title="Optics", starts_in=timedelta(days=1)
    )
    live_server.recording(
        class_id,
        config_id,
        backend_record_id="rec-1",
        title="Optics, week 1",
        duration_seconds=3000,
        playback_url="https://fake.example/play/1",
        visibility="published",
    )
    with live_server.app.app_context():
        db.session.add(
            Feedback(
                user_id=student.id,
                class_id=class_id,
                schedule_id=sid,
                rating=5,
                comment="Loved the prisms",
            )
        )
        db.session.commit()

    page = sign_in(new_context(), teacher.email, next_path=f"/classes/{class_id}")
    slides = page.locator("#slides")
    expect(slides).to_contain_text("No slides yet.")
    not_pdf = tmp_path / "notes.txt"
    not_pdf.write_text("hello")
    slides.get_by_label("Upload a PDF").set_input_files(str(not_pdf))
    slides.get_by_role("button", name="Upload slides").click()
    expect(slides.get_by_role("alert")).to_contain_text("Slides must be a PDF file")
    pdf = tmp_path / "lenses.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=400, height=300)
    with pdf.open("wb") as handle:
        writer.write(handle)
    slides.get_by_label("Upload a PDF").set_input_files(str(pdf))
    slides.get_by_role("button", name="Upload slides").click()
    expect(slides.locator("#slide-list")).to_contain_text("lenses.pdf")
    with page.expect_response(
        lambda r: re.search(r"/api/slides/\d+/download$", r.url) is not None
    ) as link:
        slides.get_by_role(
            "button", name="lenses.pdf", exact=True
        ).click()  # asks for a short-lived download link
    assert link.value.status == 200 and link.value.json()["url"]

    recordings = page.locator("#recordings")
    expect(recordings).to_contain_text("Optics, week 1")
    expect(recordings).to_contain_text("50 min")
    expect(recordings.locator(".badge")).to_have_text("published")
    recordings.get_by_role("link", name="Optics, week 1").click()
    # The backend plays it on its own page: the recording page links there.
    expect(page.locator("#recording-playback")).to_have_attribute(
        "href", "https://fake.example/play/1"
    )
    page.get_by_label("Visibility").select_option("teachers")
    with live_server.app.app_context():
        for _ in range(50):
            db.session.expire_all()
            if db.session.execute(db.select(Recording.visibility)).scalar_one() == "teachers":
                break
            page.wait_for_timeout(100)
        assert db.session.execute(db.select(Recording.visibility)).scalar_one() == "teachers"
    page.goto(f"{live_server.url}/classes/{class_id}")
    expect(page.locator("#recordings .badge")).to_have_text("teachers")

    expect(page.locator("#feedback-summary")).to_contain_text("Average 5.0 / 5 from 1 rating")
    expect(page.locator("#feedback-summary")).to_contain_text("5 stars: 1")
    expect(page.locator("#feedback-summary")).to_contain_text("from Sam Student")
    expect(page.locator("#feedback-summary")).to_contain_text("Loved the prisms")

    student_page = sign_in(new_context(), student.email, next_path=f"/classes/{class_id}")
    expect(student_page.locator("#slide-list")).to_contain_text("lenses.pdf")
    expect(student_page.locator("#recording-list")).to_contain_text(
        "No recording yet."
    )  # teachers only
    expect(
        student_page.locator("#slides").get_by_role("button", name="Delete lenses.pdf")
    ).to_have_count(0)
    expect(student_page.locator("#feedback-summary")).to_have_count(0)
