"""A guest's page over the live socket (portal/realtime.py): the room credential the guest's
page carries opens a socket for that one occurrence, which hears the teacher's decision
(lobby:admitted), the class starting and the chat, and can reach no other room."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import socketio
from live_client import TIMEOUT, LiveClient, close_all

from portal.core import classes
from portal.core.types import utcnow
from portal.extensions import db


@pytest.fixture
def guest_socket(portal_url, app):
    clients: list[LiveClient] = []

    def factory(room_token: str) -> LiveClient:
        client = LiveClient(portal_url, None, origin=app.config["BASE_URL"], name="guest")
        clients.append(client)
        client.sio.connect(
            portal_url,
            auth={"guest_token": room_token},
            transports=["websocket"],
            wait_timeout=TIMEOUT,
        )
        return client

    yield factory
    close_all(clients)


@pytest.fixture
def user_socket(portal_url, app):
    from flask_jwt_extended import create_access_token

    clients: list[LiveClient] = []

    def factory(user, join: int) -> LiveClient:
        token = create_access_token(identity=str(user.id), additional_claims={"role": user.role})
        client = LiveClient(portal_url, token, origin=app.config["BASE_URL"], name=user.name)
        clients.append(client)
        client.connect()
        assert client.join(join)["ok"]
        return client

    yield factory
    close_all(clients)


def _guest(app, school, login, *, viewer_only: bool = False):
    """A guest who entered by a link and knocked; answers (REST client, guest id, room token
    read from the guest's page)."""
    link = (
        login(school.teacher)
        .post(
            f"/api/classes/{school.klass.id}/invites",
            json={
                "expires_at": (utcnow() + timedelta(hours=2)).isoformat(),
                "viewer_only": viewer_only,
            },
        )
        .get_json()
    )
    guest = app.test_client()
    guest_id = guest.post(
        f"/api/invite/{link['token']}/enter", json={"name": "Ada Parent"}
    ).get_json()["guest_id"]
    page = guest.get("/guest").get_data(as_text=True)
    token = re.search(r'data-room-token="([^"]+)"', page)
    assert token is not None, "the guest's page carries its room credential"
    assert guest.post(f"/api/guest/schedules/{school.schedule.id}/knock").status_code == 200
    return guest, guest_id, token.group(1), link


def test_a_waiting_guest_hears_the_admission_the_start_and_the_chat(
    school, login, app, guest_socket, user_socket
):
    sid = school.schedule.id
    teacher = login(school.teacher)
    _rest, guest_id, token, _link = _guest(app, school, login)
    socket = guest_socket(token)
    # Not admitted yet: the class's panel stays closed.
    refused = socket.join(sid)
    assert not refused["ok"] and refused["error"]["code"] == "waiting_room"

    teacher.post(f"/api/schedules/{sid}/lobby/admit", json={"guest_ids": [guest_id]})
    admitted = socket.wait_for("lobby:admitted")
    assert admitted["guest_id"] == guest_id and admitted["schedule_id"] == sid

    teacher.post(f"/api/schedules/{sid}/chat", json={"body": "before you came"})
    joined = socket.join(sid)
    assert joined["ok"] and joined["state"] == "not_started"
    assert [m["body"] for m in joined["messages"]] == ["before you came"]

    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    assert socket.wait_for("class:started")["schedule_id"] == sid

    teacher_socket = user_socket(school.teacher, sid)
    teacher.post(f"/api/schedules/{sid}/chat", json={"body": "welcome, Ada"})
    assert socket.wait_for("chat:message", lambda m: m["body"] == "welcome, Ada")
    said = socket.call("chat:send", {"schedule_id": sid, "body": "thank you"})
    assert said["ok"], said
    heard = teacher_socket.wait_for("chat:message", lambda m: m["body"] == "thank you")
    assert heard["user"] == {"id": None, "name": "Ada Parent (guest)", "role": "guest"}


def test_a_guest_socket_opens_no_other_room_and_does_nothing_else(
    school, login, app, guest_socket, user_socket
):
    sid = school.schedule.id
    teacher = login(school.teacher)
    _rest, guest_id, token, _link = _guest(app, school, login)
    teacher.post(f"/api/schedules/{sid}/lobby/admit", json={"guest_ids": [guest_id]})
    other = classes.create_class(
        school.other_teacher,
        classes.ClassInput(
            title="Secret", starts_at=utcnow() + timedelta(minutes=5), duration_minutes=30
        ),
    )
    db.session.commit()
    other_sid = classes.list_schedules(school.other_teacher, other.id)[0].id
    socket = guest_socket(token)
    elsewhere = socket.join(other_sid)
    assert not elsewhere["ok"] and elsewhere["error"]["code"] == "not_found"
    sneaked = socket.call("chat:send", {"schedule_id": other_sid, "body": "hello?"})
    assert not sneaked["ok"] and sneaked["error"]["code"] == "not_found"
    login(school.other_teacher).post(f"/api/schedules/{other_sid}/chat", json={"body": "private"})
    assert socket.join(sid)["ok"]
    poll = socket.call(
        "poll:create", {"schedule_id": sid, "question": "Mine?", "options": ["a", "b"]}
    )
    assert not poll["ok"] and poll["error"]["code"] == "guest"
    # Something is delivered to the guest's own room, and the other class's chat never was.
    teacher.post(f"/api/schedules/{sid}/chat", json={"body": "own room"})
    socket.wait_for("chat:message", lambda m: m["body"] == "own room")
    assert [m["body"] for m in socket.of("chat:message")] == ["own room"]


def test_a_viewer_only_guest_reads_but_cannot_write_over_the_socket(
    school, login, app, guest_socket
):
    sid = school.schedule.id
    teacher = login(school.teacher)
    _rest, guest_id, token, _link = _guest(app, school, login, viewer_only=True)
    teacher.post(f"/api/schedules/{sid}/lobby/admit", json={"guest_ids": [guest_id]})
    socket = guest_socket(token)
    joined = socket.join(sid)
    assert joined["ok"] and joined["viewer_only"] is True
    refused = socket.call("chat:send", {"schedule_id": sid, "body": "may I?"})
    assert not refused["ok"] and refused["error"]["code"] == "viewer_only"


def test_a_revoked_link_or_a_forged_credential_cannot_connect(
    school, login, app, portal_url, guest_socket
):
    _rest, _guest_id, token, link = _guest(app, school, login)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(socketio.exceptions.ConnectionError):
        guest_socket(forged)
    login(school.teacher).post(f"/api/invites/{link['id']}/revoke")
    with pytest.raises(socketio.exceptions.ConnectionError):
        guest_socket(token)
