"""Whiteboard strokes over the socket (real python-socketio clients on a real server): the
teacher's stroke reaches every socket of the room; a student's stroke without the floor,
or an oversized one, is answered with a clear error, stored nowhere and reaches no one."""

from __future__ import annotations

from live_client import LiveClient, close_all

from portal.core.models import BoardStroke
from portal.extensions import db


def _socket(portal_url, app, user, schedule_id) -> tuple[LiveClient, dict]:
    from flask_jwt_extended import create_access_token

    token = create_access_token(identity=str(user.id), additional_claims={"role": user.role})
    client = LiveClient(portal_url, token, origin=app.config["BASE_URL"], name=user.name).connect()
    answer = client.join(schedule_id)
    assert answer["ok"], answer
    return client, answer


def _stroke(points: int = 2) -> dict:
    return {
        "tool": "pen",
        "color": "#ff0000",
        "width": 0.01,
        "points": [[0.123456789, 0.987654321]] * points,
    }


def _stored() -> int:
    db.session.expire_all()
    return db.session.execute(db.select(db.func.count(BoardStroke.id))).scalar_one()


def test_strokes_over_the_socket_reach_the_room_and_refusals_reach_no_one(school, app, portal_url):
    sid = school.schedule.id
    clients = []
    try:
        teacher, _ = _socket(portal_url, app, school.teacher, sid)
        student, _ = _socket(portal_url, app, school.student, sid)
        clients += [teacher, student]
        shown = teacher.call("slides:present", {"schedule_id": sid})
        assert shown["ok"], shown
        assert student.wait_for("slides:page")["board"] is True

        refused = student.call("board:stroke", {"schedule_id": sid, "stroke": _stroke()})
        assert refused["ok"] is False and refused["error"]["code"] == "not_presenter"
        too_big = teacher.call("board:stroke", {"schedule_id": sid, "stroke": _stroke(3000)})
        assert too_big["ok"] is False and too_big["error"]["code"] == "stroke_too_large"
        assert _stored() == 0

        drawn = teacher.call("board:stroke", {"schedule_id": sid, "stroke": _stroke()})
        assert drawn["ok"], drawn
        for client in (teacher, student):
            assert client.wait_for("board:stroke")["stroke"]["id"] == drawn["stroke"]["id"]
        # Only the teacher's stroke was announced, to either socket.
        for client in (teacher, student):
            assert [e["stroke"]["id"] for e in client.of("board:stroke")] == [drawn["stroke"]["id"]]
        assert _stored() == 1

        # A late joiner's join answer carries the page and its stroke.
        late, answer = _socket(portal_url, app, school.classmate, sid)
        clients.append(late)
        assert answer["presentation"]["board"] is True
        assert [s["id"] for s in answer["presentation"]["strokes"]] == [drawn["stroke"]["id"]]
    finally:
        close_all(clients)
