"""Slides, recordings and the feedback summary on the class page, against the test-only
stand-in of the class content API (tests/browser/live_stub.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from live_stub import LiveStub
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def stub():
    return LiveStub()


@pytest.fixture
def live_plugins(stub):
    return [stub]


def test_teacher_uploads_slides_and_controls_recordings(live_server, new_context, sign_in, stub, tmp_path):
    teacher = live_server.user("teacher", "Tom Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, sid = live_server.class_with(teacher, [student], title="Optics", starts_in=timedelta(days=1))
    stub.recordings.append({"id": 900, "class_id": class_id, "title": "Optics, week 1", "recorded_at": "2026-11-20T09:00:00Z",
                            "duration_seconds": 3000, "playback_url": "https://fake.example/play/900", "published": True})
    stub.feedback.append({"user_id": student.id, "schedule_id": sid, "rating": 5, "comment": "Loved the prisms"})

    page = sign_in(new_context(), teacher.email, next_path=f"/classes/{class_id}")
    slides = page.locator("#slides")
    expect(slides).to_contain_text("No slides yet.")
    not_pdf = tmp_path / "notes.txt"
    not_pdf.write_text("hello")
    slides.get_by_label("Upload a PDF").set_input_files(str(not_pdf))
    slides.get_by_role("button", name="Upload slides").click()
    expect(slides.get_by_role("alert")).to_contain_text("Slides must be a PDF file")
    pdf = tmp_path / "lenses.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% test deck\n")
    slides.get_by_label("Upload a PDF").set_input_files(str(pdf))
    slides.get_by_role("button", name="Upload slides").click()
    expect(slides.locator("#slide-list")).to_contain_text("lenses.pdf")
    assert [s["filename"] for s in stub.slides] == ["lenses.pdf"]
    with page.context.expect_page() as opened:
        slides.get_by_role("button", name="lenses.pdf", exact=True).click()  # asks for a short-lived download link
    assert opened.value.url.endswith("/stub-files/lenses.pdf")

    recordings = page.locator("#recordings")
    expect(recordings).to_contain_text("Optics, week 1")
    expect(recordings).to_contain_text("50 min")
    recordings.get_by_role("button", name="Unpublish").click()
    expect(recordings.locator(".badge")).to_have_text("hidden")
    assert stub.recordings[0]["published"] is False

    expect(page.locator("#feedback-summary")).to_contain_text("Average 5.0 / 5 from 1 rating")
    expect(page.locator("#feedback-summary")).to_contain_text("5 stars: 1")
    expect(page.locator("#feedback-summary")).to_contain_text("Loved the prisms")

    student_page = sign_in(new_context(), student.email, next_path=f"/classes/{class_id}")
    expect(student_page.locator("#slide-list")).to_contain_text("lenses.pdf")
    expect(student_page.locator("#recording-list")).to_contain_text("No recording yet.")  # unpublished
    expect(student_page.locator("#slides").get_by_role("button", name="Delete lenses.pdf")).to_have_count(0)
    expect(student_page.locator("#feedback-summary")).to_have_count(0)
