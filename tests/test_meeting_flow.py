"""The core start/join/end flow on the test-only fake backend."""

from __future__ import annotations

import threading

import pytest
from fake_backend import FAKE

from portal.core.models import Attendance, Meeting
from portal.extensions import db
from portal.plugins import BackendUnavailable


def test_teacher_starts_and_student_joins_with_the_backend_join_target(school, login):
    teacher, student = login(school.teacher), login(school.student)
    sid = school.schedule.id

    waiting = student.post(f"/api/schedules/{sid}/join")
    assert waiting.status_code == 409
    assert waiting.get_json()["error"]["code"] == "not_started"

    started = teacher.post(f"/api/schedules/{sid}/start")
    assert started.status_code == 200, started.get_json()
    body = started.get_json()
    assert body["state"] == "running"
    assert "role=moderator" in body["join"]["url"]

    joined = student.post(f"/api/schedules/{sid}/join")
    assert joined.status_code == 200
    assert joined.get_json()["kind"] == "redirect"
    assert f"user={school.student.id}&role=viewer" in joined.get_json()["url"]
    assert db.session.execute(db.select(db.func.count(Attendance.id))).scalar_one() == 2

    ended = teacher.post(f"/api/schedules/{sid}/end")
    assert ended.status_code == 200
    assert ended.get_json()["state"] == "ended"
    assert len(FAKE.ended) == 1
    assert student.post(f"/api/schedules/{sid}/join").get_json()["error"]["code"] == "class_ended"


def test_start_without_any_enabled_backend_is_a_clear_409(app, make_user, login):
    from datetime import timedelta

    from portal.core import classes
    from portal.core.types import utcnow

    teacher = make_user("teacher")
    klass = classes.create_class(
        teacher, classes.ClassInput(title="T", starts_at=utcnow(), duration_minutes=30)
    )
    db.session.commit()
    sid = classes.list_schedules(teacher, klass.id)[0].id
    response = login(teacher).post(f"/api/schedules/{sid}/start")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "no_backend"
    assert "no meeting backend is enabled" in response.get_json()["error"]["message"]
    assert timedelta  # keep import used for clarity of intent


def test_unreachable_backend_gives_503_and_leaves_nothing_half_created(school, login):
    FAKE.fail_with = BackendUnavailable("connection refused")
    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503
    assert "not reachable" in response.get_json()["error"]["message"]
    assert db.session.execute(db.select(db.func.count(Meeting.id))).scalar_one() == 0

    FAKE.fail_with = None
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )


@pytest.mark.real_commits  # racing threads each commit on their own connection
def test_concurrent_starts_create_the_meeting_once(school, app):
    from portal.core import meetings
    from portal.core.models import User

    FAKE.create_delay = 0.3
    results, errors = [], []

    def start():
        with app.app_context():
            try:
                teacher = db.session.get(User, school.teacher.id)
                meeting, _ = meetings.start_class(teacher, school.schedule.id)
                results.append(meeting.id)
            except Exception as exc:  # pragma: no cover - reported by the assert below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert len(FAKE.created) == 1


def test_backend_receives_decrypted_settings_and_spec(school, login):
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    settings, spec = FAKE.created[0]
    assert settings["secret"] == "s3cret-value-123"
    assert spec.title == "Algebra"
    assert spec.teacher.role == "moderator"
    assert spec.meeting_key.startswith(f"portal-{school.klass.id}-{school.schedule.id}-")


def test_ending_a_class_whose_backend_configuration_was_removed_is_a_clear_503(school, login):
    """Without its configuration there is no server to tell: a readable 503, not a crash."""
    from portal.core.models import BackendConfig

    teacher = login(school.teacher)
    sid = school.schedule.id
    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    db.session.delete(db.session.get(BackendConfig, school.config.id))
    db.session.commit()

    ended = teacher.post(f"/api/schedules/{sid}/end")
    assert ended.status_code == 503
    assert ended.get_json()["error"]["code"] == "backend_missing"
    assert FAKE.ended == []
