"""The floor's events reach the class's sockets (real python-socketio clients on a real
server): the teacher's panel hears hands go up, everyone hears the floor change, and a
socket of another class hears nothing of it."""

from __future__ import annotations

from datetime import timedelta

from live_client import LiveClient, close_all

from portal.core import classes
from portal.core.types import utcnow
from portal.extensions import db


def _socket(portal_url, app, user, schedule_id) -> LiveClient:
    from flask_jwt_extended import create_access_token

    token = create_access_token(identity=str(user.id), additional_claims={"role": user.role})
    client = LiveClient(portal_url, token, origin=app.config["BASE_URL"], name=user.name).connect()
    answer = client.join(schedule_id)
    assert answer["ok"], answer
    return client


def test_hand_and_floor_events_go_to_the_right_sockets(school, login, app, portal_url):
    sid = school.schedule.id
    other = classes.create_class(
        school.other_teacher,
        classes.ClassInput(
            title="Biology",
            starts_at=utcnow() + timedelta(minutes=5),
            duration_minutes=60,
            timezone="Europe/Paris",
        ),
    )
    db.session.commit()
    elsewhere = classes.list_schedules(school.other_teacher, other.id)[0].id
    clients = []
    try:
        teacher = _socket(portal_url, app, school.teacher, sid)
        classmate = _socket(portal_url, app, school.classmate, sid)
        stranger = _socket(portal_url, app, school.other_teacher, elsewhere)
        clients += [teacher, classmate, stranger]

        assert login(school.student).post(f"/api/schedules/{sid}/hands").status_code == 200
        raised = teacher.wait_for("hand:raised")
        assert raised["user"] == {"id": school.student.id, "name": school.student.name}
        grant = login(school.teacher).post(
            f"/api/schedules/{sid}/floor/grant", json={"user_id": school.student.id, "camera": True}
        )
        assert grant.status_code == 200
        for client in (teacher, classmate):
            granted = client.wait_for("floor:granted")
            assert (granted["user"]["id"], granted["camera"], granted["mic"]) == (
                school.student.id,
                True,
                False,
            )
        login(school.teacher).post(
            f"/api/schedules/{sid}/floor/withdraw", json={"user_id": school.student.id}
        )
        assert classmate.wait_for("floor:withdrawn")["camera"] is False
        # The queue is the teacher's: a classmate's socket does not hear hands go up.
        assert classmate.of("hand:raised") == []
        # Nothing crosses into another class's room.
        assert [name for name, _ in stranger.events if name.startswith(("hand", "floor"))] == []
    finally:
        close_all(clients)
