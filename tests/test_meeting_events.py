"""Backend callback services: concurrent deliveries claim once and never lose updates."""

from __future__ import annotations

import threading

import pytest

from portal.core import meeting_events, unit_of_work
from portal.core.models import Attendance, Meeting
from portal.extensions import db


def _meeting(school, login) -> Meeting:
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    return db.session.execute(db.select(Meeting)).scalar_one()


def _in_threads(app, meeting_id: int, work, count: int = 6) -> list:
    results, errors = [], []

    def run(i: int) -> None:
        with app.app_context():
            try:
                # Each thread is one delivery: its own unit of work, committed at its end.
                with unit_of_work.scope():
                    results.append(work(db.session.get(Meeting, meeting_id), i))
            except Exception as exc:  # pragma: no cover - reported by the assert below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    return results


@pytest.mark.real_commits  # racing threads each commit on their own connection
def test_a_delivery_delivered_concurrently_is_claimed_once(school, login, app):
    meeting = _meeting(school, login)
    claims = _in_threads(app, meeting.id, lambda m, i: meeting_events.claim_delivery(m, "key-1"))
    assert sorted(claims) == [False] * 5 + [True]
    assert meeting_events.claim_delivery(meeting, "key-2") is True
    meeting_events.release_delivery(meeting, "key-2")
    assert (
        meeting_events.claim_delivery(meeting, "key-2") is True
    )  # a released key is processed again


@pytest.mark.real_commits  # racing threads each commit on their own connection
def test_concurrent_data_updates_are_all_kept(school, login, app):
    meeting = _meeting(school, login)

    def add(m, i):
        meeting_events.update_data(m, lambda data: data.setdefault("items", []).append(i))

    _in_threads(app, meeting.id, add, count=8)
    db.session.refresh(meeting)
    assert sorted(meeting.data["items"]) == list(range(8))
    assert meeting.data["slides"] == 0  # what the backend stored at start is untouched


def test_delivery_keys_are_bounded(school, login):
    meeting = _meeting(school, login)
    for i in range(5):
        meeting_events.claim_delivery(meeting, f"k{i}", keep=3)
    assert meeting.data["deliveries"] == ["k2", "k3", "k4"]


def test_attendance_of_unknown_users_is_recorded_as_guests(school, login):
    meeting = _meeting(school, login)
    meeting_events.note_attendance(meeting, user_id=987654, name="Someone", source="jitsi")
    meeting_events.note_attendance(
        meeting, user_id=school.student.id, name=school.student.name, source="jitsi"
    )
    rows = {
        (a.user_id, a.display_name) for a in db.session.execute(db.select(Attendance)).scalars()
    }
    assert (None, "Someone") in rows and (school.student.id, school.student.name) in rows
