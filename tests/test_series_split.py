"""Changing a series' recurrence "from this occurrence on": the series splits at the chosen
occurrence, hand-moved occurrences stay moved when their day is still in the new rule (the
answer lists those dropped), students and reminders follow."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.core import classes
from portal.core.models import Class, Enrolment, Notification, Schedule
from portal.core.types import utcnow
from portal.extensions import db

PARIS = ZoneInfo("Europe/Paris")


def _next_monday_nine() -> datetime:
    day = (utcnow() + timedelta(days=3)).astimezone(PARIS).date()
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime.combine(day, time(9, 0), tzinfo=PARIS)


@pytest.fixture
def weekly(school):
    """Six Monday 09:00 (Paris) lessons; the 4th moved to 11:00, the 5th to Tuesday."""
    klass = classes.create_class(
        school.teacher,
        classes.ClassInput(
            title="Weekly chemistry",
            starts_at=_next_monday_nine(),
            duration_minutes=60,
            timezone="Europe/Paris",
            rrule="FREQ=WEEKLY;COUNT=6",
            reminder_offsets=[60],
        ),
    )
    classes.enrol(school.teacher, klass.id, [school.student.id])
    db.session.commit()
    lessons = classes.list_schedules(school.teacher, klass.id)
    classes.reschedule_occurrence(
        school.teacher, lessons[3].id, lessons[3].starts_at + timedelta(hours=2)
    )
    classes.reschedule_occurrence(
        school.teacher, lessons[4].id, lessons[4].starts_at + timedelta(days=1)
    )
    db.session.commit()
    return klass, lessons


def _local(dt: datetime) -> tuple[str, str]:
    local = datetime.fromisoformat(dt) if isinstance(dt, str) else dt
    local = local.astimezone(PARIS)
    return local.strftime("%a"), local.strftime("%H:%M")


def test_following_occurrences_take_the_new_rule_and_moved_ones_are_kept_or_reported(
    school, weekly, login
):
    klass, lessons = weekly
    teacher = login(school.teacher)
    answer = teacher.post(
        f"/api/schedules/{lessons[2].id}/series",
        json={"rrule": "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"},
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["split"] is True and body["class_id"] != klass.id
    got = [_local(o["starts_at"]) for o in body["occurrences"]]
    # Mondays 09:00 and Wednesdays 09:00 for two weeks; week 2's Monday was moved to 11:00.
    assert got == [("Mon", "09:00"), ("Wed", "09:00"), ("Mon", "11:00"), ("Wed", "09:00")]
    assert [o["id"] for o in body["kept_moved"]] == [lessons[3].id]
    # The lesson moved to a Tuesday was on a Monday of week 3: no Monday there any more.
    assert [_local(d) for d in body["dropped_moved"]] == [("Tue", "09:00")]

    db.session.expire_all()
    old = db.session.get(Class, klass.id)
    old_lessons = classes.list_schedules(school.teacher, klass.id)
    assert [s.id for s in old_lessons] == [lessons[0].id, lessons[1].id]
    assert "UNTIL=" in old.rrule and "COUNT" not in old.rrule
    assert classes.expand_occurrences(lessons[0].starts_at, old.rrule, old.timezone) == [
        lessons[0].starts_at,
        lessons[1].starts_at,
    ]
    new = db.session.get(Class, body["class_id"])
    assert (new.title, new.teacher_id, new.rrule) == (
        "Weekly chemistry",
        school.teacher.id,
        "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4",
    )
    enrolled = db.session.execute(
        db.select(Enrolment.user_id).where(Enrolment.class_id == new.id)
    ).scalars()
    assert list(enrolled) == [school.student.id]
    # Reminders: one pending per new occurrence for the student, none for deleted ones.
    pending = db.session.execute(
        db.select(Notification.schedule_id).where(
            Notification.user_id == school.student.id,
            Notification.kind == "reminder",
            Notification.status == "pending",
            Notification.schedule_id != school.schedule.id,
        )
    ).scalars()
    new_ids = {o["id"] for o in body["occurrences"]}
    assert set(pending) == new_ids | {lessons[0].id, lessons[1].id}
    assert db.session.get(Schedule, lessons[4].id) is None
    # The student sees both halves of the series.
    student = login(school.student)
    assert student.get(f"/api/classes/{new.id}").status_code == 200


def test_changing_from_the_first_occurrence_changes_the_class_itself(school, weekly, login):
    klass, lessons = weekly
    answer = login(school.teacher).post(
        f"/api/schedules/{lessons[0].id}/series", json={"rrule": "FREQ=WEEKLY;COUNT=2"}
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["split"] is False and body["class_id"] == klass.id
    assert [o["id"] for o in body["occurrences"]] == [lessons[0].id, lessons[1].id]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"rrule": "FREQ=WEEKLY"}, "unbounded_rrule"),
        ({"rrule": "FREQ=SOMETIMES;COUNT=2"}, "invalid_rrule"),
        (
            {"rrule": "FREQ=WEEKLY;COUNT=2", "starts_at": "2020-01-06T09:00:00+01:00"},
            "start_in_past",
        ),
    ],
)
def test_bad_rules_are_refused_and_nothing_changes(school, weekly, login, payload, code):
    klass, lessons = weekly
    answer = login(school.teacher).post(f"/api/schedules/{lessons[2].id}/series", json=payload)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == code
    db.session.expire_all()
    assert len(classes.list_schedules(school.teacher, klass.id)) == 6


def test_a_one_off_class_is_not_a_series(school, login):
    answer = login(school.teacher).post(
        f"/api/schedules/{school.schedule.id}/series", json={"rrule": "FREQ=WEEKLY;COUNT=2"}
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "not_a_series"


def test_students_and_other_teachers_cannot_change_a_series(school, weekly, login):
    _, lessons = weekly
    url = f"/api/schedules/{lessons[2].id}/series"
    payload = {"rrule": "FREQ=WEEKLY;COUNT=2"}
    assert login(school.student).post(url, json=payload).status_code == 403
    assert login(school.other_teacher).post(url, json=payload).status_code == 404
