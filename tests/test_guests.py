"""Guests and invite links (portal/core/invites.py): a teacher's link lets someone without an
account wait in the lobby, be admitted, join as a viewer and chat; expired, revoked and
wrong-code uses are refused readably; a guest's session opens nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core import staff
from portal.core.models import Guest, InviteLink, User
from portal.core.types import utcnow
from portal.extensions import db


def _expiry(hours: int = 2) -> str:
    return (utcnow() + timedelta(hours=hours)).isoformat()


@pytest.fixture
def invite(school, login):
    """Makes a link for the school's class as its teacher; answers the created link."""

    def make(**body):
        body.setdefault("expires_at", _expiry())
        created = login(school.teacher).post(f"/api/classes/{school.klass.id}/invites", json=body)
        assert created.status_code == 201, created.get_json()
        return created.get_json()

    return make


@pytest.fixture
def guest_client(app):
    """A browser of its own: the guest never shares a user's cookies."""
    return app.test_client()


def _enter(guest_client, token, name="Ada Parent", code=""):
    return guest_client.post(f"/api/invite/{token}/enter", json={"name": name, "access_code": code})


def test_the_token_and_code_are_stored_only_as_hashes(school, invite):
    link = invite(access_code="4711", viewer_only=True)
    assert len(link["token"]) >= 22 and link["url"].endswith(f"/invite/{link['token']}")
    assert link["has_code"] and link["viewer_only"] and link["state"] == "active"
    row = db.session.get(InviteLink, link["id"])
    assert row is not None and link["token"] not in row.token_hash
    assert row.code_hash is not None and "4711" not in row.code_hash


def test_only_the_class_teachers_make_and_see_links(school, login, invite, make_user):
    klass_id = school.klass.id
    body = {"expires_at": _expiry()}
    for outsider in (school.student, school.other_teacher):
        client = login(outsider)
        assert client.post(f"/api/classes/{klass_id}/invites", json=body).status_code in (403, 404)
        assert client.get(f"/api/classes/{klass_id}/invites").status_code in (403, 404)
    co_teacher = make_user("teacher")
    staff.add_staff(school.teacher, klass_id, co_teacher.email, "co_teacher")
    db.session.commit()
    assert login(co_teacher).post(f"/api/classes/{klass_id}/invites", json=body).status_code == 201
    listed = login(school.teacher).get(f"/api/classes/{klass_id}/invites").get_json()
    assert len(listed) == 1 and "token" not in listed[0]


def test_bad_link_input_is_refused_readably(school, login):
    teacher, klass_id = login(school.teacher), school.klass.id
    past = teacher.post(
        f"/api/classes/{klass_id}/invites",
        json={"expires_at": (utcnow() - timedelta(minutes=1)).isoformat()},
    )
    assert past.status_code == 400 and past.get_json()["error"]["code"] == "expiry_in_past"
    other = teacher.post(
        f"/api/classes/{klass_id}/invites", json={"expires_at": _expiry(), "schedule_id": 999999}
    )
    assert other.status_code == 404


def test_a_guest_waits_is_admitted_joins_chats_and_leaves(school, login, invite, guest_client):
    teacher = login(school.teacher)
    sid = school.schedule.id
    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    link = invite()
    users_before = db.session.query(User).count()
    entered = _enter(guest_client, link["token"])
    assert entered.status_code == 201 and entered.get_json()["name"] == "Ada Parent (guest)"
    assert db.session.query(User).count() == users_before  # never a users row
    # The waiting room is off for this class, yet the guest waits.
    assert guest_client.post(f"/api/guest/schedules/{sid}/join").status_code == 409
    assert guest_client.post(f"/api/guest/schedules/{sid}/knock").get_json()["status"] == "waiting"
    still = guest_client.post(f"/api/guest/schedules/{sid}/join")
    assert still.status_code == 409 and still.get_json()["error"]["code"] == "waiting_room"
    waiting = teacher.get(f"/api/schedules/{sid}/lobby").get_json()
    assert [(w["guest_id"], w["name"]) for w in waiting] == [
        (entered.get_json()["guest_id"], "Ada Parent (guest)")
    ]
    admitted = teacher.post(
        f"/api/schedules/{sid}/lobby/admit", json={"guest_ids": [waiting[0]["guest_id"]]}
    )
    assert [a["status"] for a in admitted.get_json()] == ["admitted"]
    joined = guest_client.post(f"/api/guest/schedules/{sid}/join")
    assert joined.status_code == 200, joined.get_json()
    report = teacher.get(f"/api/schedules/{sid}/attendance").get_json()["rows"]
    guests = [(r["name"], r["role"], r["present"]) for r in report if r["user_id"] is None]
    assert guests == [("Ada Parent (guest)", "guest", True)]
    said = guest_client.post(f"/api/guest/schedules/{sid}/chat", json={"body": "hello class"})
    assert said.status_code == 201
    assert said.get_json()["user"] == {"id": None, "name": "Ada Parent (guest)", "role": "guest"}
    history = login(school.teacher).get(f"/api/schedules/{sid}/chat").get_json()
    messages = history["messages"] if isinstance(history, dict) else history
    assert any(m["body"] == "hello class" and m["user"]["role"] == "guest" for m in messages)
    present = teacher.get(f"/api/schedules/{sid}/presence").get_json()
    people = present["users"] if isinstance(present, dict) else present
    assert "Ada Parent (guest)" in [p["name"] for p in people]
    assert guest_client.post("/api/guest/leave").status_code == 200
    present = teacher.get(f"/api/schedules/{sid}/presence").get_json()
    people = present["users"] if isinstance(present, dict) else present
    assert "Ada Parent (guest)" not in [p["name"] for p in people]
    guest = db.session.get(Guest, entered.get_json()["guest_id"])
    assert guest is not None and guest.left_at is not None
    report = teacher.get(f"/api/schedules/{sid}/attendance").get_json()["rows"]
    assert [r["left_at"] is not None for r in report if r["user_id"] is None] == [True]


def test_a_refused_guest_reads_the_teachers_message(school, login, invite, guest_client):
    teacher, sid = login(school.teacher), school.schedule.id
    guest_id = _enter(guest_client, invite()["token"]).get_json()["guest_id"]
    guest_client.post(f"/api/guest/schedules/{sid}/knock")
    refused = teacher.post(
        f"/api/schedules/{sid}/lobby/refuse", json={"guest_id": guest_id, "message": "full"}
    )
    assert refused.status_code == 200
    me = guest_client.get("/api/guest/me").get_json()
    assert me["status"] == "refused" and "full" in me["message"]
    denied = guest_client.post(f"/api/guest/schedules/{sid}/join")
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "refused"


def test_an_expired_or_revoked_link_answers_410_and_ends_its_sessions(
    school, login, invite, guest_client, app
):
    link = invite()
    assert _enter(guest_client, link["token"]).status_code == 201
    assert guest_client.get("/api/guest/me").status_code == 200
    revoked = login(school.teacher).post(f"/api/invites/{link['id']}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    again = _enter(app.test_client(), link["token"])
    assert again.status_code == 410 and again.get_json()["error"]["code"] == "revoked"
    assert guest_client.get("/api/guest/me").status_code == 401
    page = app.test_client().get(f"/invite/{link['token']}")
    assert page.status_code == 410 and b"revoked" in page.data

    expiring = invite()
    row = db.session.get(InviteLink, expiring["id"])
    assert row is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    late = _enter(app.test_client(), expiring["token"])
    assert late.status_code == 410 and late.get_json()["error"]["code"] == "expired"
    assert app.test_client().get("/invite/not-a-token").status_code == 404


def test_a_wrong_code_is_refused_and_attempts_are_limited(school, invite, app):
    link = invite(access_code="4711")
    wrong = _enter(app.test_client(), link["token"], code="1234")
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "wrong_code"
    assert _enter(app.test_client(), link["token"], code="4711").status_code == 201
    answers = [
        _enter(app.test_client(), link["token"], code=f"{n:04}").status_code for n in range(8)
    ]
    assert answers[-1] == 429  # the progressive delay stops guessing
    empty = _enter(app.test_client(), link["token"], name="   ", code="4711")
    assert empty.status_code in (400, 429)


def test_a_guest_session_opens_no_other_class_and_no_user_endpoint(
    school, login, invite, guest_client, app
):
    from portal.core import classes

    other = classes.create_class(
        school.other_teacher,
        classes.ClassInput(
            title="Other",
            starts_at=utcnow() + timedelta(minutes=5),
            duration_minutes=60,
            timezone="Europe/Paris",
        ),
    )
    db.session.commit()
    other_sid = classes.list_schedules(school.other_teacher, other.id)[0].id
    assert _enter(guest_client, invite()["token"]).status_code == 201
    assert guest_client.post(f"/api/guest/schedules/{other_sid}/knock").status_code == 404
    assert guest_client.post(f"/api/guest/schedules/{other_sid}/join").status_code == 404
    for url in ("/api/auth/me", f"/api/classes/{school.klass.id}", "/api/users", "/api/classes"):
        assert guest_client.get(url).status_code == 401, url
    sid = school.schedule.id
    assert guest_client.post(f"/api/schedules/{sid}/join").status_code == 401
    assert guest_client.get(f"/schedules/{sid}").status_code in (302, 401)
    # A link for one occurrence does not cover the class's others.
    one = invite(schedule_id=sid)
    single = app.test_client()
    assert _enter(single, one["token"]).status_code == 201
    assert single.post(f"/api/guest/schedules/{sid}/knock").status_code == 200


def test_the_invite_page_takes_a_name_and_the_code(school, invite, app):
    link = invite(access_code="4711")
    browser = app.test_client()
    form = browser.get(f"/invite/{link['token']}")
    assert form.status_code == 200 and b'name="access_code"' in form.data
    wrong = browser.post(f"/invite/{link['token']}", data={"name": "Ada", "access_code": "0"})
    assert wrong.status_code == 403 and b"access code is not right" in wrong.data
    right = browser.post(f"/invite/{link['token']}", data={"name": "Ada", "access_code": "4711"})
    assert right.status_code == 302 and right.headers["Location"].endswith("/guest")
    room = browser.get("/guest")
    assert room.status_code == 200 and b"Ada (guest)" in room.data


def test_a_viewer_only_guest_reads_the_chat_but_may_not_write(school, login, invite, guest_client):
    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    guest_id = _enter(guest_client, invite(viewer_only=True)["token"]).get_json()["guest_id"]
    guest_client.post(f"/api/guest/schedules/{sid}/knock")
    teacher.post(f"/api/schedules/{sid}/lobby/admit", json={"guest_ids": [guest_id]})
    assert guest_client.post(f"/api/guest/schedules/{sid}/join").status_code == 200
    refused = guest_client.post(f"/api/guest/schedules/{sid}/chat", json={"body": "hi"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "viewer_only"
    assert "read the chat" in refused.get_json()["error"]["message"]
    history = teacher.get(f"/api/schedules/{sid}/chat").get_json()
    messages = history["messages"] if isinstance(history, dict) else history
    assert all(m["body"] != "hi" for m in messages)  # nothing was stored
