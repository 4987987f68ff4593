"""prosody event_sync POSTs and JaaS webhooks: valid, forged, replayed and duplicate."""

from __future__ import annotations

import time
import uuid

import pytest
from jitsi_testkit import (
    EVENTS_TOKEN,
    JAAS_APP_ID,
    jaas_event,
    jaas_settings,
    jaas_signed,
    self_hosted_settings,
    start_class,
    use_jitsi,
)

from portal.core.models import Attendance, Meeting
from portal.extensions import db


def _sync(client, event: str, payload: dict, token: str | None = EVENTS_TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/plugins/jitsi/events/{event}", json=payload, headers=headers)


def _occupant(user, **extra) -> dict:
    return {
        "id": str(user.id),
        "name": user.name,
        "email": user.email,
        "occupant_jid": f"{uuid.uuid4()}@meet.school.test/abc",
        "joined_at": int(time.time()),
        **extra,
    }


def _attendance(meeting: Meeting) -> dict:
    db.session.expire_all()
    rows = db.session.execute(db.select(Attendance).filter_by(meeting_id=meeting.id)).scalars()
    return {(row.user_id, row.display_name): row for row in rows}


def test_event_sync_tracks_the_room_and_who_is_in_it(jitsi_school, login, client):
    school = jitsi_school
    meeting = start_class(school, login)
    room = meeting.backend_meeting_id

    created = _sync(
        client,
        "room/created",
        {
            "event_name": "muc-room-created",
            "room_name": room,
            "room_jid": f"{room}@conference.meet.school.test",
            "is_breakout": False,
            "created_at": 1700000000,
        },
    )
    assert created.status_code == 200 and created.get_json()["status"] == "ok"
    joined = _sync(
        client,
        "occupant/joined",
        {
            "event_name": "muc-occupant-joined",
            "room_name": room,
            "is_breakout": False,
            "active_occupants_count": 2,
            "occupant": _occupant(school.student),
        },
    )
    assert joined.status_code == 200
    rows = _attendance(meeting)
    student_row = rows[(school.student.id, school.student.name)]
    assert student_row.left_at is None

    from portal_jitsi_backend import BACKEND

    from portal.core import meetings

    db.session.refresh(meeting)
    status = BACKEND.status({}, meetings.handle_of(meeting))
    assert status.running is True and status.participant_count == 2

    left = _sync(
        client,
        "occupant/left",
        {
            "event_name": "muc-occupant-left",
            "room_name": room,
            "is_breakout": False,
            "active_occupants_count": 1,
            "occupant": _occupant(school.student, left_at=int(time.time())),
        },
    )
    assert left.status_code == 200
    assert _attendance(meeting)[(school.student.id, school.student.name)].left_at is not None

    # A guest (no portal id) is recorded by name; an unknown numeric id is not trusted.
    _sync(
        client,
        "occupant/joined",
        {"room_name": room, "occupant": {"name": "Visitor", "id": "999999"}},
    )
    assert (None, "Visitor") in _attendance(meeting)

    # The room emptying an hour before the scheduled end does not end the class.
    destroyed = _sync(
        client,
        "room/destroyed",
        {
            "room_name": room,
            "is_breakout": False,
            "destroyed_at": int(time.time()),
            "all_occupants": [],
        },
    )
    assert destroyed.get_json()["ended"] is False
    db.session.refresh(meeting)
    assert meeting.status == "running" and meeting.data["room_active"] is False


def test_forged_or_foreign_events_change_nothing(jitsi_school, login, client):
    school = jitsi_school
    meeting = start_class(school, login)
    payload = {"room_name": meeting.backend_meeting_id, "occupant": _occupant(school.student)}

    assert _sync(client, "occupant/joined", payload, token=None).status_code == 401
    forged = _sync(client, "occupant/joined", payload, token="events-token-but-not-the-right-one")
    assert forged.status_code == 401
    assert forged.get_json()["error"]["code"] == "invalid_events_token"
    assert (school.student.id, school.student.name) not in _attendance(meeting)

    unknown = _sync(client, "occupant/joined", {**payload, "room_name": "someone-elses-room"})
    assert unknown.status_code == 200 and unknown.get_json()["status"] == "ignored"
    assert _sync(client, "room/exploded", payload).status_code == 404

    # The token of another Jitsi deployment configured on the portal cannot touch this class.
    from portal.core import backends

    backends.create_config(
        school.admin,
        name="Other Jitsi",
        backend="jitsi",
        settings=self_hosted_settings(
            domain="other.test", events_token="other-deployment-token-123"
        ),
    )
    db.session.commit()
    other = _sync(client, "occupant/joined", payload, token="other-deployment-token-123")
    assert other.status_code == 200 and other.get_json()["status"] == "ignored"
    assert (school.student.id, school.student.name) not in _attendance(meeting)


def test_room_destroyed_ends_the_class_when_configured(school, login, client):
    use_jitsi(school, self_hosted_settings(end_on_room_destroyed="always"))
    meeting = start_class(school, login)
    student = login(school.student)
    assert student.post(f"/api/schedules/{school.schedule.id}/join").status_code == 200
    response = _sync(
        client,
        "room/destroyed",
        {
            "room_name": meeting.backend_meeting_id,
            "is_breakout": False,
            "destroyed_at": int(time.time()),
            "all_occupants": [],
        },
    )
    assert response.get_json()["ended"] is True
    db.session.refresh(meeting)
    assert meeting.status == "ended"
    assert all(row.left_at is not None for row in _attendance(meeting).values())
    assert (
        student.post(f"/api/schedules/{school.schedule.id}/join").get_json()["error"]["code"]
        == "class_ended"
    )
    # A breakout room being destroyed is not the class's room.
    again = _sync(
        client, "room/destroyed", {"room_name": meeting.backend_meeting_id, "is_breakout": True}
    )
    assert again.status_code == 200


# JaaS -----------------------------------------------------------------------------------


@pytest.fixture
def jaas_school(school, jaas_keys):
    return use_jitsi(
        school, jaas_settings(jaas_keys[0], end_on_room_destroyed="always"), name="JaaS"
    )


def test_jaas_webhooks_are_verified_and_deduplicated(jaas_school, login, client):
    school = jaas_school
    meeting = start_class(school, login)
    assert meeting.backend_meeting_id == f"{JAAS_APP_ID}/{meeting.data['room']}"
    student = {
        "moderator": "false",
        "name": school.student.name,
        "email": school.student.email,
        "id": str(school.student.id),
        "participantJid": "x@8x8.vc",
        "participantId": "abc",
    }
    hook = "/plugins/jitsi/jaas/webhook"

    joined = jaas_event(meeting, "PARTICIPANT_JOINED", student)
    assert client.post(hook, data=joined, headers=jaas_signed(joined)).get_json()["status"] == "ok"
    left_key = str(uuid.uuid4())
    left = jaas_event(meeting, "PARTICIPANT_LEFT", student, key=left_key)
    assert client.post(hook, data=left, headers=jaas_signed(left)).get_json()["status"] == "ok"
    assert _attendance(meeting)[(school.student.id, school.student.name)].left_at is not None
    rejoined = jaas_event(meeting, "PARTICIPANT_JOINED", student)
    client.post(hook, data=rejoined, headers=jaas_signed(rejoined))
    assert _attendance(meeting)[(school.student.id, school.student.name)].left_at is None

    # JaaS delivers the earlier PARTICIPANT_LEFT again: same idempotencyKey, ignored.
    duplicate = client.post(hook, data=left, headers=jaas_signed(left))
    assert duplicate.status_code == 200 and duplicate.get_json()["status"] == "duplicate"
    assert _attendance(meeting)[(school.student.id, school.student.name)].left_at is None

    visitor = jaas_event(meeting, "PARTICIPANT_JOINED", {"name": "Forged Visitor", "id": "x"})
    forged = [
        {},  # no signature
        jaas_signed(visitor, secret="not-the-webhook-secret"),
        jaas_signed(visitor, t=int(time.time()) - 3600),  # replayed an hour later
        jaas_signed(visitor, scheme="v0"),  # only the v1 scheme is trusted
        jaas_signed(visitor.replace(b"Forged Visitor", b"Other Visitor")),  # header of another body
    ]
    tampered = visitor.replace(b"Forged Visitor", b"Mallory")
    for headers in forged:
        body = visitor if headers is not forged[4] else tampered
        response = client.post(hook, data=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.get_json()["error"]["code"] == "invalid_signature"
    assert not any(name in ("Forged Visitor", "Mallory") for _, name in _attendance(meeting))

    destroyed = jaas_event(
        meeting, "ROOM_DESTROYED", {"conference": "room@conference.8x8.vc", "isBreakout": False}
    )
    assert (
        client.post(hook, data=destroyed, headers=jaas_signed(destroyed)).get_json()["ended"]
        is True
    )
    db.session.refresh(meeting)
    assert meeting.status == "ended"
    assert len(meeting.data["deliveries"]) == 4


def test_jaas_events_of_other_rooms_are_acknowledged_and_ignored(jaas_school, login, client):
    meeting = start_class(jaas_school, login)
    body = jaas_event(meeting, "ROOM_CREATED", {"conference": "x"}).replace(
        meeting.backend_meeting_id.encode(), f"{JAAS_APP_ID}/not-a-class".encode()
    )
    response = client.post("/plugins/jitsi/jaas/webhook", data=body, headers=jaas_signed(body))
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"


def test_room_destroyed_after_the_scheduled_end_ends_the_class(jitsi_school, login, client):
    from datetime import timedelta

    from portal.core.types import utcnow

    school = jitsi_school
    meeting = start_class(school, login)
    school.schedule.starts_at = utcnow() - timedelta(minutes=61)
    school.schedule.ends_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = _sync(
        client,
        "room/destroyed",
        {
            "room_name": meeting.backend_meeting_id,
            "is_breakout": False,
            "destroyed_at": int(time.time()),
            "all_occupants": [],
        },
    )
    assert response.get_json()["ended"] is True
    db.session.refresh(meeting)
    assert meeting.status == "ended"


def test_implausible_event_times_are_ignored_not_an_error(jitsi_school, login, client):
    """Fuzzed times (Infinity, year 5000, strings) fall back to the receipt time."""
    meeting = start_class(jitsi_school, login)
    room = meeting.backend_meeting_id
    headers = {"Authorization": f"Bearer {EVENTS_TOKEN}", "Content-Type": "application/json"}
    for value in ("Infinity", "1e300", '"soon"', "true"):
        body = (
            f'{{"room_name": "{room}", "created_at": {value}, "destroyed_at": {value}, '
            f'"occupant": {{"name": "Visitor", "joined_at": {value}, "left_at": {value}}}, '
            f'"all_occupants": [{{"name": "Visitor", "left_at": {value}}}]}}'
        )
        for event in ("room/created", "occupant/joined", "occupant/left", "room/destroyed"):
            response = client.post(f"/plugins/jitsi/events/{event}", data=body, headers=headers)
            assert response.status_code == 200, (event, value, response.get_json())
    assert (None, "Visitor") in _attendance(meeting)
