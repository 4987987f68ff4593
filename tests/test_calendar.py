"""Scheduling: recurrence, time zones, FullCalendar events, double-booking warnings,
whole-series edits and the private iCalendar feed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from portal.core import classes
from portal.core.models import AuditLog, User
from portal.extensions import db

PARIS = ZoneInfo("Europe/Paris")


def _monday_13_days_before_summer_time(today: date) -> date:
    """The first Monday after `today` (three weeks' margin) that lies 13 days before Europe/
    Paris switches to summer time (the last Sunday of March), as 2027-03-15 does before
    2027-03-28. From it New York is already on summer time (second Sunday of March)."""
    for year in range(today.year, today.year + 3):
        last_sunday = max(
            date(year, 3, d) for d in range(25, 32) if date(year, 3, d).weekday() == 6
        )
        monday = last_sunday - timedelta(days=13)
        if monday - timedelta(days=21) > today:
            return monday
    raise AssertionError("unreachable: every year has a last Sunday of March")


# The tests are written for March 2027; they run on the same weekdays and the same side of
# the time-zone switches in the first such March still ahead (classes may not start in the
# past, and the school fixture's class, starting now, must stay out of the windows read).
SHIFT = _monday_13_days_before_summer_time(datetime.now(PARIS).date()) - date(2027, 3, 15)


def _d(text: str) -> str:
    """An ISO date or date-time written for March 2027, moved by SHIFT (a whole number of
    weeks): weekday, local time and UTC offset stay as written."""
    return (date.fromisoformat(text[:10]) + SHIFT).isoformat() + text[10:]


def _weekly(
    api,
    title="Physics",
    start=None,
    rule="FREQ=WEEKLY;BYDAY=MO;COUNT=4",
    **extra,
):
    payload = {
        "title": title,
        "starts_at": start or _d("2027-03-15T09:00:00+01:00"),
        "duration_minutes": 60,
        "timezone": "Europe/Paris",
        "rrule": rule,
        **extra,
    }
    return api.post("/api/classes", json=payload)


def test_rrule_that_never_ends_is_refused(school, login):
    teacher = login(school.teacher)
    response = _weekly(teacher, rule="FREQ=WEEKLY;BYDAY=MO,WE")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "unbounded_rrule"
    huge = _weekly(teacher, rule="FREQ=DAILY;COUNT=100000")
    assert huge.status_code == 400
    assert huge.get_json()["error"]["code"] == "rrule_too_long"
    garbage = _weekly(teacher, rule="FREQ=SOMETIMES;COUNT=3")
    assert garbage.status_code == 400


def test_weekly_class_keeps_its_local_time_across_daylight_saving(school, login):
    teacher = login(school.teacher)
    created = _weekly(teacher)
    assert created.status_code == 201, created.get_json()
    utc_hours = [
        datetime.fromisoformat(s["starts_at"]).astimezone(ZoneInfo("UTC")).hour
        for s in created.get_json()["schedules"]
    ]
    assert utc_hours == [8, 8, 7, 7]  # Paris: summer time from the 4th class

    events = teacher.get(
        f"/api/calendar/events?start={_d('2027-03-01')}&end={_d('2027-04-30')}"
        "&timeZone=Europe/Paris"
    ).get_json()
    assert [e["start"][11:16] for e in events] == ["09:00"] * 4
    assert [e["extendedProps"]["class_start"][11:16] for e in events] == ["09:00"] * 4


def test_fullcalendar_events_in_requested_user_and_school_zones(school, login):
    teacher = login(school.teacher)
    created = _weekly(teacher, rule="FREQ=WEEKLY;COUNT=2").get_json()
    classes.enrol(school.teacher, created["id"], [school.student.id])
    db.session.commit()

    student = login(school.student)
    events = student.get(
        "/api/calendar/events",
        query_string={
            "start": _d("2027-03-01T00:00:00"),
            "end": _d("2027-04-01T00:00:00"),
            "timeZone": "America/New_York",
        },
    ).get_json()
    assert len(events) == 2
    event = events[0]
    assert event["title"] == "Physics"
    # 09:00 Paris (CET) = 04:00 New York (EDT)
    assert event["start"] == _d("2027-03-15T04:00:00-04:00")
    assert event["end"] == _d("2027-03-15T05:00:00-04:00")
    assert event["editable"] is False
    assert event["extendedProps"]["class_timezone"] == "Europe/Paris"
    assert event["extendedProps"]["class_start"] == _d("2027-03-15T09:00:00+01:00")
    assert event["extendedProps"]["school_timezone"] == "Europe/Paris"
    assert event["extendedProps"]["utc_start"] == _d("2027-03-15T08:00:00+00:00")

    # Without timeZone: the user's own zone from the profile.
    student_row = db.session.get(User, school.student.id)
    student_row.timezone = "Asia/Tokyo"
    db.session.commit()
    events = student.get(
        f"/api/calendar/events?start={_d('2027-03-01')}&end={_d('2027-04-01')}"
    ).get_json()
    assert events[0]["start"] == _d("2027-03-15T17:00:00+09:00")
    assert events[0]["extendedProps"]["timezone"] == "Asia/Tokyo"

    # An outsider's calendar is empty; a teacher's events are editable.
    assert (
        login(school.outsider)
        .get(f"/api/calendar/events?start={_d('2027-03-01')}&end={_d('2027-04-01')}")
        .get_json()
        == []
    )
    assert (
        teacher.get(
            f"/api/calendar/events?start={_d('2027-03-01')}&end={_d('2027-04-01')}"
        ).get_json()[0]["editable"]
        is True
    )
    bad = student.get(f"/api/calendar/events?start=yesterday&end={_d('2027-04-01')}")
    assert bad.status_code == 400
    assert (
        student.get(
            f"/api/calendar/events?start={_d('2027-01-01')}&end={_d('2027-12-01')}"
        ).get_json()["error"]["code"]
        == "range_too_long"
    )


def test_creating_and_moving_onto_the_teachers_other_class_warns_of_double_booking(school, login):
    teacher = login(school.teacher)
    first = _weekly(teacher, title="A", rule="FREQ=WEEKLY;COUNT=2").get_json()
    overlapping = _weekly(
        teacher, title="B", start=_d("2027-03-15T09:30:00+01:00"), rule="FREQ=WEEKLY;COUNT=1"
    ).get_json()
    assert [c["id"] for c in overlapping["conflicts"]] == [first["schedules"][0]["id"]]

    free = _weekly(teacher, title="C", start=_d("2027-03-16T14:00:00+01:00"), rule=None).get_json()
    assert free["conflicts"] == []
    sid = free["schedules"][0]["id"]
    moved = teacher.patch(
        f"/api/schedules/{sid}", json={"starts_at": _d("2027-03-22T09:15:00+01:00")}
    )
    assert moved.status_code == 200
    assert [c["id"] for c in moved.get_json()["conflicts"]] == [first["schedules"][1]["id"]]
    assert moved.get_json()["starts_at"].startswith(_d("2027-03-22T08:15"))

    away = teacher.patch(
        f"/api/schedules/{sid}", json={"starts_at": _d("2027-03-23T09:15:00+01:00")}
    )
    assert away.get_json()["conflicts"] == []
    # Another teacher's class at the same time is not this teacher's double-booking.
    other = login(school.other_teacher)
    assert _weekly(other, title="D", rule="FREQ=WEEKLY;COUNT=1").get_json()["conflicts"] == []
    assert (
        login(school.student)
        .patch(f"/api/schedules/{sid}", json={"starts_at": _d("2027-03-24T09:00:00+01:00")})
        .status_code
        == 404
    )


def test_moving_and_cancelling_one_occurrence_leaves_the_others(school, login):
    teacher = login(school.teacher)
    created = _weekly(teacher).get_json()
    ids = [s["id"] for s in created["schedules"]]
    assert teacher.post(f"/api/schedules/{ids[1]}/cancel").get_json()["status"] == "cancelled"
    teacher.patch(f"/api/schedules/{ids[2]}", json={"starts_at": _d("2027-03-30T11:00:00+02:00")})
    rows = {s["id"]: s for s in teacher.get(f"/api/classes/{created['id']}/schedules").get_json()}
    assert [rows[i]["status"] for i in ids] == ["scheduled", "cancelled", "scheduled", "scheduled"]
    assert rows[ids[2]]["starts_at"].startswith(_d("2027-03-30T09:00"))
    assert rows[ids[3]]["starts_at"].startswith(_d("2027-04-05T07:00"))
    events = teacher.get(
        f"/api/calendar/events?start={_d('2027-03-01')}&end={_d('2027-04-30')}&timeZone=UTC"
    ).get_json()
    by_id = {int(e["id"]): e for e in events}
    assert "cancelled" in by_id[ids[1]]["classNames"]
    assert by_id[ids[2]]["extendedProps"]["moved"] is True


def test_series_edit_changes_time_of_day_of_unmoved_occurrences(school, login):
    teacher = login(school.teacher)
    created = _weekly(teacher).get_json()
    ids = [s["id"] for s in created["schedules"]]
    teacher.patch(f"/api/schedules/{ids[0]}", json={"starts_at": _d("2027-03-16T15:00:00+01:00")})
    response = teacher.patch(
        f"/api/classes/{created['id']}/series", json={"start_time": "10:30", "duration_minutes": 90}
    )
    assert response.status_code == 200, response.get_json()
    changed = {s["id"]: s for s in response.get_json()["changed"]}
    assert set(changed) == set(ids[1:])
    local = [datetime.fromisoformat(changed[i]["starts_at"]).astimezone(PARIS) for i in ids[1:]]
    assert [(t.hour, t.minute) for t in local] == [(10, 30)] * 3
    ends = [
        datetime.fromisoformat(changed[i]["ends_at"])
        - datetime.fromisoformat(changed[i]["starts_at"])
        for i in ids[1:]
    ]
    assert {e.total_seconds() for e in ends} == {5400}
    schedules = {
        s["id"]: s for s in teacher.get(f"/api/classes/{created['id']}/schedules").get_json()
    }
    assert schedules[ids[0]]["starts_at"].startswith(
        _d("2027-03-16T14:00")
    )  # individually moved: kept
    assert db.session.execute(
        db.select(AuditLog).filter_by(action="class.series_update")
    ).scalar_one()
    assert (
        login(school.student)
        .patch(f"/api/classes/{created['id']}/series", json={"start_time": "08:00"})
        .status_code
        == 404
    )
    assert teacher.patch(f"/api/classes/{created['id']}/series", json={}).status_code == 400


def test_private_ical_feed_can_be_read_without_login_and_reset(school, login, client):
    teacher = login(school.teacher)
    created = _weekly(teacher, description="Bring a calculator").get_json()
    ids = [s["id"] for s in created["schedules"]]
    classes.enrol(school.teacher, created["id"], [school.student.id])
    db.session.commit()
    teacher.post(f"/api/schedules/{ids[1]}/cancel")

    student = login(school.student)
    url = student.get("/api/calendar/feed").get_json()["url"]
    assert student.get("/api/calendar/feed").get_json()["url"] == url  # stable until reset
    path = urlsplit(url).path
    response = client.get(path)  # no Authorization header: the secret URL is the credential
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.data)
    events = [c for c in cal.walk("VEVENT")]
    physics = [e for e in events if str(e["SUMMARY"]) == "Physics"]
    assert len(physics) == 4
    assert len(events) == 5  # plus the school fixture's Algebra class
    by_uid = {str(e["UID"]): e for e in physics}
    cancelled = by_uid[f"schedule-{ids[1]}@127.0.0.1:5000"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    first = by_uid[f"schedule-{ids[0]}@127.0.0.1:5000"]
    assert first.decoded("DTSTART") == datetime(2027, 3, 15, 8, 0, tzinfo=ZoneInfo("UTC")) + SHIFT
    assert "Bring a calculator" in str(first["DESCRIPTION"])

    new_url = student.post("/api/calendar/feed/reset").get_json()["url"]
    assert new_url != url
    assert client.get(path).status_code == 404
    assert client.get(urlsplit(new_url).path).status_code == 200
    assert client.get("/api/calendar/feed/not-a-token.ics").status_code == 404

    # The outsider's feed has none of these classes.
    outsider_url = login(school.outsider).get("/api/calendar/feed").get_json()["url"]
    assert "VEVENT" not in client.get(urlsplit(outsider_url).path).data.decode()


@pytest.mark.parametrize("today", [date(2026, 12, 1), date(2027, 3, 15), date(2030, 2, 20)])
def test_the_march_2027_dates_move_to_a_march_ahead_with_the_same_switches(today):
    """The shifted dates stay valid whatever the day the suite runs: ahead of today, Paris
    on winter time for the first two Mondays and summer time from the third (as in March
    2027), New York already on summer time."""
    monday = _monday_13_days_before_summer_time(today)
    assert monday.weekday() == 0 and monday - timedelta(days=21) > today

    def offset(day: date, zone: str) -> timedelta | None:
        return datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo(zone)).utcoffset()

    paris = [offset(monday + timedelta(weeks=w), "Europe/Paris") for w in range(4)]
    assert paris == [timedelta(hours=1)] * 2 + [timedelta(hours=2)] * 2
    assert offset(monday, "America/New_York") == timedelta(hours=-4)
