"""The class page shows its teacher the recording a backend prepares after the class: the
progress reported through services.report_recording_progress appears without a reload, a
failure shows its message and Retry asks the backend again, and once ready the recording is
listed instead. The class's student never sees any of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fake_backend import FAKE
from playwright.sync_api import expect

from portal.core.models import Meeting
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import RecordingInfo, services

pytestmark = pytest.mark.browser


def test_the_teacher_follows_the_recording_being_prepared(
    live_server, new_context, sign_in, monkeypatch
):
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tom Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, schedule_id = live_server.class_with(
        teacher, [student], title="Optics", starts_in=timedelta(minutes=2)
    )
    live_server.start(teacher, schedule_id)
    with live_server.app.app_context():
        meeting_id = db.session.execute(
            db.select(Meeting.id).where(Meeting.schedule_id == schedule_id)
        ).scalar_one()

    def report(state: str, percent: int = 0, message: str = "") -> None:
        with live_server.app.app_context():
            services.report_recording_progress(meeting_id, state, percent, message)
            db.session.commit()

    retries: list[str] = []

    def retry_recording(settings, handle):  # the backend queues the assembly again
        retries.append(handle.meeting_id)
        services.report_recording_progress(meeting_id, "queued")

    monkeypatch.setattr(FAKE, "retry_recording", retry_recording, raising=False)

    report("queued")
    page = sign_in(new_context(), teacher.email, next_path=f"/classes/{class_id}")
    jobs = page.locator("#recording-jobs")
    expect(jobs).to_contain_text("Preparing the recording of")
    expect(jobs).to_contain_text("queued")

    report("assembling", 40)
    expect(jobs).to_contain_text(": 40 %")  # pushed by the refresh, no reload

    student_page = sign_in(new_context(), student.email, next_path=f"/classes/{class_id}")
    expect(student_page.locator("#recording-list")).to_be_visible()
    expect(student_page.locator("#recording-jobs")).to_have_count(0)
    assert "Preparing the recording" not in student_page.content()

    report("failed", message="disk full")
    expect(jobs).to_contain_text("failed: disk full")
    jobs.get_by_role("button", name="Retry").click()
    expect(jobs).to_contain_text("queued")
    expect(jobs.get_by_role("button", name="Retry")).to_have_count(0)
    assert len(retries) == 1

    with live_server.app.app_context():
        services.register_recording(
            meeting_id,
            RecordingInfo(
                record_id="lesson-1",
                title="Optics, the lesson",
                recorded_at=utcnow(),
                duration_seconds=600,
            ),
        )
        services.report_recording_progress(meeting_id, "ready", 100)
        db.session.commit()
    expect(page.locator("#recording-list")).to_contain_text("Optics, the lesson")
    expect(jobs.locator("li")).to_have_count(0)
