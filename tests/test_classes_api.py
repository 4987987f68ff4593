"""Teachers schedule classes (one-off and recurring) and enrol students over the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from portal.core.models import AuditLog, Enrolment, Schedule
from portal.extensions import db


def _monday_9am_paris() -> datetime:
    zone = ZoneInfo("Europe/Paris")
    today = datetime.now(zone).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime(monday.year, monday.month, monday.day, 9, 0, tzinfo=zone)


def test_teacher_creates_a_weekly_class_that_stays_at_9_local_time(make_user, login, fake_config):
    teacher = login(make_user("teacher"))
    start = _monday_9am_paris()
    response = teacher.post(
        "/api/classes",
        json={
            "title": "Chemistry",
            "starts_at": start.isoformat(),
            "duration_minutes": 50,
            "timezone": "Europe/Paris",
            "rrule": "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=30",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert len(body["schedules"]) == 30
    local_hours = {
        datetime.fromisoformat(s["starts_at"]).astimezone(ZoneInfo("Europe/Paris")).hour
        for s in body["schedules"]
    }
    assert local_hours == {9}  # across the daylight-saving change too
    weekdays = {
        datetime.fromisoformat(s["starts_at"]).astimezone(ZoneInfo("Europe/Paris")).weekday()
        for s in body["schedules"]
    }
    assert weekdays == {0, 3}


def test_never_ending_rule_is_refused(make_user, login):
    teacher = login(make_user("teacher"))
    response = teacher.post(
        "/api/classes",
        json={
            "title": "Forever",
            "starts_at": _monday_9am_paris().isoformat(),
            "duration_minutes": 50,
            "rrule": "FREQ=DAILY",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "unbounded_rrule"
    assert db.session.execute(db.select(db.func.count(Schedule.id))).scalar_one() == 0


def test_naive_time_and_bad_timezone_are_refused(make_user, login):
    teacher = login(make_user("teacher"))
    naive = teacher.post(
        "/api/classes",
        json={"title": "X", "starts_at": "2030-01-01T09:00:00", "duration_minutes": 5},
    )
    assert naive.status_code == 400
    zone = teacher.post(
        "/api/classes",
        json={
            "title": "X",
            "starts_at": "2030-01-01T09:00:00Z",
            "duration_minutes": 5,
            "timezone": "Mars/Olympus",
        },
    )
    assert zone.status_code == 400 and zone.get_json()["error"]["code"] == "invalid_timezone"


def test_double_booking_is_reported_as_a_conflict_warning(make_user, login):
    teacher = login(make_user("teacher"))
    start = _monday_9am_paris()
    teacher.post(
        "/api/classes", json={"title": "A", "starts_at": start.isoformat(), "duration_minutes": 60}
    )
    second = teacher.post(
        "/api/classes",
        json={
            "title": "B",
            "starts_at": (start + timedelta(minutes=30)).isoformat(),
            "duration_minutes": 60,
        },
    )
    assert second.status_code == 201
    assert [c["title"] for c in second.get_json()["conflicts"]] == ["A"]


def test_enrol_students_and_they_see_the_class(make_user, login):
    teacher_user, student_user, other = (
        make_user("teacher"),
        make_user("student"),
        make_user("student"),
    )
    teacher = login(teacher_user)
    class_id = teacher.post(
        "/api/classes",
        json={
            "title": "Biology",
            "starts_at": _monday_9am_paris().isoformat(),
            "duration_minutes": 45,
        },
    ).get_json()["id"]
    enrolled = teacher.post(
        f"/api/classes/{class_id}/enrolments", json={"user_ids": [student_user.id]}
    )
    assert enrolled.status_code == 201
    assert [e["user"]["id"] for e in enrolled.get_json()] == [student_user.id]
    again = teacher.post(
        f"/api/classes/{class_id}/enrolments", json={"user_ids": [student_user.id]}
    )
    assert again.status_code == 201 and len(again.get_json()) == 1  # idempotent, no duplicate

    student = login(student_user)
    assert [c["title"] for c in student.get("/api/classes").get_json()["items"]] == ["Biology"]
    assert login(other).get("/api/classes").get_json()["items"] == []
    start = _monday_9am_paris()
    calendar = student.get(
        "/api/schedules",
        query_string={
            "start": (start - timedelta(days=1)).isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
        },
    )
    assert [s["title"] for s in calendar.get_json()] == ["Biology"]
    assert (
        db.session.execute(
            db.select(db.func.count(AuditLog.id)).filter_by(action="enrolment.add")
        ).scalar_one()
        == 1
    )


def test_enrolling_a_teacher_or_unknown_user_is_refused(make_user, login):
    teacher_user = make_user("teacher")
    teacher = login(teacher_user)
    class_id = teacher.post(
        "/api/classes",
        json={"title": "X", "starts_at": _monday_9am_paris().isoformat(), "duration_minutes": 45},
    ).get_json()["id"]
    staff = teacher.post(
        f"/api/classes/{class_id}/enrolments", json={"user_ids": [teacher_user.id]}
    )
    unknown = teacher.post(f"/api/classes/{class_id}/enrolments", json={"user_ids": [99999]})
    # One answer for both: the error must not tell which ids exist or belong to staff.
    assert staff.status_code == unknown.status_code == 400
    assert (
        staff.get_json()["error"]["code"] == unknown.get_json()["error"]["code"] == "not_a_student"
    )
    assert staff.get_json()["error"]["message"].replace(
        str(teacher_user.id), "N"
    ) == unknown.get_json()["error"]["message"].replace("99999", "N")
    assert db.session.execute(db.select(db.func.count(Enrolment.id))).scalar_one() == 0


def test_cancel_class_cancels_future_occurrences_and_blocks_start(school, login):
    teacher = login(school.teacher)
    assert (
        teacher.post(f"/api/classes/{school.klass.id}/cancel").get_json()["status"] == "cancelled"
    )
    schedules = teacher.get(f"/api/classes/{school.klass.id}/schedules").get_json()
    assert {s["status"] for s in schedules} == {"cancelled"}
    started = teacher.post(f"/api/schedules/{school.schedule.id}/start")
    assert started.status_code == 409 and started.get_json()["error"]["code"] == "class_cancelled"


def test_move_one_occurrence(school, login):
    teacher = login(school.teacher)
    new_start = (datetime.now(ZoneInfo("UTC")) + timedelta(days=2)).replace(microsecond=0)
    moved = teacher.patch(
        f"/api/schedules/{school.schedule.id}",
        json={"starts_at": new_start.isoformat(), "duration_minutes": 90},
    )
    assert moved.status_code == 200
    assert datetime.fromisoformat(moved.get_json()["starts_at"]) == new_start
    assert datetime.fromisoformat(moved.get_json()["ends_at"]) == new_start + timedelta(minutes=90)


def test_admin_creates_a_class_for_a_teacher_but_not_for_a_student(school, login):
    admin = login(school.admin)
    ok = admin.post(
        "/api/classes",
        json={
            "title": "Assigned",
            "starts_at": _monday_9am_paris().isoformat(),
            "duration_minutes": 30,
            "teacher_id": school.teacher.id,
        },
    )
    assert ok.status_code == 201 and ok.get_json()["teacher"]["id"] == school.teacher.id
    bad = admin.post(
        "/api/classes",
        json={
            "title": "Nope",
            "starts_at": _monday_9am_paris().isoformat(),
            "duration_minutes": 30,
            "teacher_id": school.student.id,
        },
    )
    assert bad.status_code == 400


def test_class_backend_choice_must_be_enabled(school, login):
    from portal.core.models import BackendConfig

    disabled = BackendConfig(name="Old", backend="fake", enabled=False, settings={})
    db.session.add(disabled)
    db.session.commit()
    teacher = login(school.teacher)
    refused = teacher.patch(
        f"/api/classes/{school.klass.id}", json={"backend_config_id": disabled.id}
    )
    assert (
        refused.status_code == 400 and refused.get_json()["error"]["code"] == "backend_not_enabled"
    )
    choices = teacher.get("/api/backends").get_json()
    assert [c["name"] for c in choices] == ["Fake"]
