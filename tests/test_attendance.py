"""Attendance report per occurrence (backend data when it has it, else portal joins) and CSV."""

from __future__ import annotations

import csv
import io

from fake_backend import FAKE

from portal.plugins import AttendeeInfo, MeetingStatus


def test_report_from_portal_joins_lists_absent_students(school, login):
    teacher = login(school.teacher)
    sid = school.schedule.id
    before = teacher.get(f"/api/schedules/{sid}/attendance").get_json()
    assert before["source"] == "none"
    assert {(r["name"], r["present"]) for r in before["rows"]} == {
        (school.student.name, False),
        (school.classmate.name, False),
    }

    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    assert login(school.student).post(f"/api/schedules/{sid}/join").status_code == 200
    report = teacher.get(f"/api/schedules/{sid}/attendance").get_json()
    assert report["source"] == "portal"
    assert report["present_count"] == 2
    rows = [(r["name"], r["role"], r["present"]) for r in report["rows"]]
    assert rows == [
        (school.teacher.name, "teacher", True),
        (school.student.name, "student", True),
        (school.classmate.name, "student", False),
    ]

    assert login(school.student).get(f"/api/schedules/{sid}/attendance").status_code == 403
    assert login(school.outsider).get(f"/api/schedules/{sid}/attendance").status_code == 404


def test_backend_attendance_wins_over_portal_joins(school, login, monkeypatch):
    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    attendees = [
        AttendeeInfo(name="Phone caller 0612"),
        AttendeeInfo(name="Student by backend", user_id=school.classmate.id),
    ]
    monkeypatch.setattr(
        FAKE,
        "status",
        lambda settings, handle: MeetingStatus(
            running=True, participant_count=2, attendees=attendees
        ),
    )

    report = teacher.get(f"/api/schedules/{sid}/attendance").get_json()
    assert report["source"] == "backend"
    by_name = {r["name"]: r for r in report["rows"]}
    assert by_name["Phone caller 0612"]["role"] == "guest"
    assert by_name["Phone caller 0612"]["present"] is True
    # A known user is shown under their portal name.
    assert by_name[school.classmate.name]["present"] is True
    assert by_name[school.classmate.name]["source"] == "backend"
    assert by_name[school.student.name]["present"] is False


def test_csv_export(school, login, monkeypatch):
    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    login(school.student).post(f"/api/schedules/{sid}/join")
    attendees = [
        AttendeeInfo(name='=HYPERLINK("http://evil.example","x")'),
        AttendeeInfo(name=school.student.name, user_id=school.student.id),
    ]
    monkeypatch.setattr(
        FAKE, "status", lambda settings, handle: MeetingStatus(running=True, attendees=attendees)
    )

    response = teacher.get(f"/api/schedules/{sid}/attendance.csv?timezone=Europe/Paris")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode())))
    assert rows[0] == [
        "name",
        "email",
        "user_id",
        "role",
        "present",
        "first_joined",
        "left",
        "minutes",
        "source",
    ]
    body = {r[0]: r for r in rows[1:]}
    assert body[school.student.name][1] == school.student.email
    assert body[school.student.name][4] == "yes"
    assert body[school.student.name][5].endswith(("+01:00", "+02:00"))
    assert body[school.classmate.name][4] == "no"
    # Spreadsheet formulas in names are neutralised.
    assert '\'=HYPERLINK("http://evil.example","x")' in body
    assert login(school.student).get(f"/api/schedules/{sid}/attendance.csv").status_code == 403
