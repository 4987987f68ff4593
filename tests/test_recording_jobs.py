"""A recording being prepared after the class (services.report_recording_progress): the
class's teachers, co-teachers and admins see its state on GET /api/classes/<id>/recording-jobs
until it is ready; its students and other classes' teachers never do; a failed one is retried
through the backend's optional retry_recording."""

from __future__ import annotations

import pytest
from fake_backend import FAKE

from portal.core import staff
from portal.core.errors import ValidationFailed
from portal.core.models import Meeting
from portal.extensions import db
from portal.plugins import services


def _ended_lesson(school, login) -> int:
    teacher = login(school.teacher)
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    assert teacher.post(f"/api/schedules/{school.schedule.id}/end").status_code == 200
    return db.session.execute(db.select(Meeting.id)).scalar_one()


def _report(meeting_id: int, state: str, percent: int = 0, message: str = "") -> None:
    services.report_recording_progress(meeting_id, state, percent, message)
    db.session.commit()


def _jobs(api, school):
    return api.get(f"/api/classes/{school.klass.id}/recording-jobs")


def test_the_classes_teachers_see_the_progress_and_nobody_else(school, login, make_user):
    co_teacher = make_user("teacher")
    staff.add_staff(school.teacher, school.klass.id, co_teacher.email, "co_teacher")
    db.session.commit()
    meeting_id = _ended_lesson(school, login)
    _report(meeting_id, "assembling", 40)

    for who in (school.teacher, co_teacher, school.admin):
        answer = _jobs(login(who), school)
        assert answer.status_code == 200, answer.get_json()
        (job,) = answer.get_json()
        assert job["schedule_id"] == school.schedule.id
        assert (job["state"], job["percent"], job["message"]) == ("assembling", 40, "")
        assert job["starts_at"].startswith(school.schedule.starts_at.isoformat()[:16])

    refused = _jobs(login(school.student), school)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert _jobs(login(school.other_teacher), school).status_code == 404
    assert _jobs(login(school.outsider), school).status_code == 404


def test_a_ready_recording_leaves_the_list_and_a_failed_one_says_why(school, login):
    meeting_id = _ended_lesson(school, login)
    teacher = login(school.teacher)
    assert _jobs(teacher, school).get_json() == []

    _report(meeting_id, "queued")
    assert [j["state"] for j in _jobs(teacher, school).get_json()] == ["queued"]
    _report(meeting_id, "failed", message="disk full")
    (job,) = _jobs(teacher, school).get_json()
    assert (job["state"], job["message"]) == ("failed", "disk full")
    assert job["can_retry"] is False  # the fake backend has no retry_recording
    _report(meeting_id, "ready", 100)
    assert _jobs(teacher, school).get_json() == []


def test_a_bad_report_is_refused_and_changes_nothing(school, login):
    meeting_id = _ended_lesson(school, login)
    _report(meeting_id, "assembling", 10)
    with pytest.raises(ValidationFailed):
        services.report_recording_progress(meeting_id, "almost", 50)
    db.session.rollback()
    (job,) = _jobs(login(school.teacher), school).get_json()
    assert (job["state"], job["percent"]) == ("assembling", 10)


def test_retry_asks_the_backend_again_for_teachers_only(school, login, monkeypatch):
    meeting_id = _ended_lesson(school, login)
    teacher = login(school.teacher)
    url = f"/api/schedules/{school.schedule.id}/recording-job/retry"

    _report(meeting_id, "assembling", 30)
    not_failed = teacher.post(url)
    assert not_failed.status_code == 409
    assert not_failed.get_json()["error"]["code"] == "not_failed"

    _report(meeting_id, "failed", message="disk full")
    unsupported = teacher.post(url)
    assert unsupported.status_code == 409
    assert unsupported.get_json()["error"]["code"] == "retry_unsupported"

    asked: list[str] = []

    def retry_recording(settings, handle):
        asked.append(handle.meeting_id)
        services.report_recording_progress(meeting_id, "queued")

    monkeypatch.setattr(FAKE, "retry_recording", retry_recording, raising=False)
    assert _jobs(teacher, school).get_json()[0]["can_retry"] is True
    assert login(school.student).post(url).status_code == 403
    assert login(school.other_teacher).post(url).status_code == 404
    assert asked == []

    retried = teacher.post(url)
    assert retried.status_code == 202, retried.get_json()
    assert retried.get_json()["state"] == "queued"
    assert len(asked) == 1
    assert [j["state"] for j in _jobs(teacher, school).get_json()] == ["queued"]
