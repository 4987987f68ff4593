"""The attendance report built from prosody event_sync POSTs and JaaS webhooks: who is
shown, and the times Jitsi reported (not the times the portal received them)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from jitsi_testkit import (
    EVENTS_TOKEN,
    jaas_event,
    jaas_settings,
    jaas_signed,
    start_class,
    use_jitsi,
)

from portal.core.models import Attendance, Meeting
from portal.extensions import db


def _sync(client, event: str, room: str, **payload):
    return client.post(
        f"/plugins/jitsi/events/{event}",
        json={"room_name": room, "is_breakout": False, **payload},
        headers={"Authorization": f"Bearer {EVENTS_TOKEN}"},
    )


def _occupant(user, joined_at: int, **extra) -> dict:
    # What mod_event_sync_component sends: the token's context.user plus the session times.
    return {
        "id": str(user.id),
        "name": user.name,
        "email": user.email,
        "occupant_jid": f"{uuid.uuid4()}@meet.school.test/abc",
        "joined_at": joined_at,
        **extra,
    }


def _report(teacher, school) -> dict:
    response = teacher.get(f"/api/schedules/{school.schedule.id}/attendance")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _row(meeting: Meeting, user) -> Attendance:
    db.session.expire_all()
    return db.session.execute(
        db.select(Attendance).filter_by(meeting_id=meeting.id, user_id=user.id)
    ).scalar_one()


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_an_unknown_occupant_never_hides_the_people_the_portal_knows(jitsi_school, login, client):
    school = jitsi_school
    teacher = login(school.teacher)
    meeting = start_class(school, login)
    room = meeting.backend_meeting_id
    assert (
        login(school.student).post(f"/api/schedules/{school.schedule.id}/join").status_code == 200
    )
    now = int(time.time())

    # Someone whose token id is no portal user (another app's token, a stale account).
    stranger = {
        "id": "424242",
        "name": "Visitor",
        "occupant_jid": "v@meet.school.test/x",
        "joined_at": now,
    }
    assert _sync(client, "occupant/joined", room, occupant=stranger).status_code == 200
    report = _report(teacher, school)
    present = {r["name"]: r["present"] for r in report["rows"]}
    assert present == {
        school.teacher.name: True,
        school.student.name: True,
        "Visitor": True,
        school.classmate.name: False,
    }

    # Jitsi then reports the teacher and the student: all three are present, from Jitsi's data.
    for user in (school.teacher, school.student):
        assert (
            _sync(client, "occupant/joined", room, occupant=_occupant(user, now)).status_code == 200
        )
    report = _report(teacher, school)
    assert report["source"] == "backend"
    rows = {r["name"]: r for r in report["rows"]}
    assert {name: r["present"] for name, r in rows.items()} == {
        school.teacher.name: True,
        school.student.name: True,
        "Visitor": True,
        school.classmate.name: False,
    }
    assert rows[school.teacher.name]["role"] == "teacher" and rows["Visitor"]["role"] == "guest"
    assert rows[school.student.name]["source"] == "jitsi"


def test_attendance_times_are_the_times_jitsi_reported(jitsi_school, login, client):
    school = jitsi_school
    meeting = start_class(school, login)
    room = meeting.backend_meeting_id
    now = int(time.time())
    joined, left = now - 1200, now - 600

    _sync(client, "occupant/joined", room, occupant=_occupant(school.student, joined))
    row = _row(meeting, school.student)
    assert row.first_joined_at == _at(joined) and row.left_at is None

    _sync(client, "occupant/left", room, occupant=_occupant(school.student, joined, left_at=left))
    assert _row(meeting, school.student).left_at == _at(left)

    # A delayed copy of the join arrives after the leave: the student stays out.
    _sync(client, "occupant/joined", room, occupant=_occupant(school.student, joined))
    row = _row(meeting, school.student)
    assert row.left_at == _at(left) and row.first_joined_at == _at(joined)

    # The room is destroyed later: the real leave time stays.
    response = _sync(
        client,
        "room/destroyed",
        room,
        destroyed_at=now,
        all_occupants=[_occupant(school.student, joined, left_at=left)],
    )
    assert response.status_code == 200
    assert _row(meeting, school.student).left_at == _at(left)

    # The student comes back: present again; an older leave arriving late changes nothing.
    _sync(client, "occupant/joined", room, occupant=_occupant(school.student, now - 60))
    _sync(
        client, "occupant/left", room, occupant=_occupant(school.student, joined, left_at=left + 1)
    )
    row = _row(meeting, school.student)
    assert row.left_at is None and row.first_joined_at == _at(joined)

    report = _report(login(school.teacher), school)
    student = next(r for r in report["rows"] if r["name"] == school.student.name)
    assert student["first_joined_at"].startswith(_at(joined).strftime("%Y-%m-%dT%H:%M:%S"))


def test_jaas_events_are_ordered_by_their_timestamp(school, login, client, jaas_keys):
    use_jitsi(school, jaas_settings(jaas_keys[0]), name="JaaS")
    meeting = start_class(school, login)
    student = {
        "moderator": "false",
        "name": school.student.name,
        "email": school.student.email,
        "id": str(school.student.id),
        "participantJid": "x@8x8.vc",
        "participantId": "abc",
    }
    now_ms = int(time.time() * 1000)

    def deliver(event_type: str, timestamp_ms: int):
        body = json.loads(jaas_event(meeting, event_type, student))
        body["timestamp"] = timestamp_ms
        raw = json.dumps(body).encode()
        response = client.post("/plugins/jitsi/jaas/webhook", data=raw, headers=jaas_signed(raw))
        assert response.status_code == 200, response.get_json()

    # JaaS delivers the leave before the join that preceded it.
    deliver("PARTICIPANT_LEFT", now_ms - 300_000)
    deliver("PARTICIPANT_JOINED", now_ms - 900_000)
    row = _row(meeting, school.student)
    assert row.left_at == _at((now_ms - 300_000) // 1000)
    assert row.first_joined_at == _at((now_ms - 900_000) // 1000)
