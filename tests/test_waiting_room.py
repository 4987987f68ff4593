"""The waiting room (portal/core/lobby.py) and what the dashboard offers (no Join a join
would refuse; the rating prompt after a class a student attended)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from portal_testing import PASSWORD

from portal.core import blocking, live_state, staff
from portal.core.models import LobbyEntry
from portal.core.types import utcnow
from portal.extensions import db


@pytest.fixture
def pushed():
    """The live events the core announced (after commit), as (event, audience, user_id)."""
    seen: list[tuple[str, str, int | None]] = []

    def record(_sender, *, event, audience, user_id=None, **_):
        seen.append((event, audience, user_id))

    live_state.live_event.connect(record)
    yield seen
    live_state.live_event.disconnect(record)


@pytest.fixture
def running(school, login):
    """The school's class with its waiting room on, started by its teacher."""
    school.klass.waiting_room = True
    db.session.commit()
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    return school


def test_a_student_waits_is_admitted_and_then_joins(running, login, pushed):
    student, teacher = login(running.student), login(running.teacher)
    sid = running.schedule.id
    refused = student.post(f"/api/schedules/{sid}/join")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "waiting_room"
    knock = student.post(f"/api/schedules/{sid}/lobby/knock")
    assert knock.status_code == 200 and knock.get_json()["status"] == "waiting"
    assert student.post(f"/api/schedules/{sid}/lobby/knock").get_json()["status"] == "waiting"
    assert ("lobby:waiting", "managers", None) in pushed
    waiting = teacher.get(f"/api/schedules/{sid}/lobby").get_json()
    assert [(w["user_id"], w["name"]) for w in waiting] == [
        (running.student.id, running.student.name)
    ]
    admitted = teacher.post(f"/api/schedules/{sid}/lobby/admit", json={})
    assert [a["status"] for a in admitted.get_json()] == ["admitted"]
    assert ("lobby:admitted", "user", running.student.id) in pushed
    assert student.post(f"/api/schedules/{sid}/join").status_code == 200
    assert teacher.get(f"/api/schedules/{sid}/lobby").get_json() == []


def test_a_refusal_carries_the_teachers_message_to_the_waiting_person(running, login, pushed):
    student, teacher = login(running.student), login(running.teacher)
    sid = running.schedule.id
    student.post(f"/api/schedules/{sid}/lobby/knock")
    answer = teacher.post(
        f"/api/schedules/{sid}/lobby/refuse",
        json={"user_id": running.student.id, "message": "wrong group, see you Friday"},
    )
    assert answer.status_code == 200
    assert ("lobby:refused", "user", running.student.id) in pushed
    join = student.post(f"/api/schedules/{sid}/join")
    assert join.status_code == 403
    error = join.get_json()["error"]
    assert error["code"] == "refused"
    assert error["message"] == "the teacher did not let you in: wrong group, see you Friday"
    again = student.post(f"/api/schedules/{sid}/lobby/knock").get_json()
    assert again["status"] == "refused" and "see you Friday" in again["message"]


def test_only_teachers_and_assistants_decide_and_only_about_people_waiting(
    running, login, make_user
):
    sid = running.schedule.id
    assistant = make_user("teacher")
    staff.add_staff(running.teacher, running.klass.id, assistant.email, "assistant")
    db.session.commit()
    login(running.student).post(f"/api/schedules/{sid}/lobby/knock")
    classmate = login(running.classmate)
    assert classmate.get(f"/api/schedules/{sid}/lobby").status_code == 403
    assert classmate.post(f"/api/schedules/{sid}/lobby/admit", json={}).status_code == 403
    assert login(running.other_teacher).get(f"/api/schedules/{sid}/lobby").status_code == 404
    helper = login(assistant)
    nobody = helper.post(
        f"/api/schedules/{sid}/lobby/admit", json={"user_ids": [running.classmate.id]}
    )
    assert (nobody.status_code, nobody.get_json()["error"]["code"]) == (404, "not_waiting")
    ok = helper.post(f"/api/schedules/{sid}/lobby/admit", json={"user_ids": [running.student.id]})
    assert ok.status_code == 200
    # Teachers and assistants never wait themselves.
    assert helper.post(f"/api/schedules/{sid}/join").status_code == 200
    too_long = helper.post(
        f"/api/schedules/{sid}/lobby/refuse",
        json={"user_id": running.classmate.id, "message": "x" * 501},
    )
    assert too_long.status_code == 400


def test_new_classes_take_the_site_default_and_each_class_chooses(school, login):
    admin, student = login(school.admin), login(school.student)
    sid, cid = school.schedule.id, school.klass.id
    assert login(school.teacher).post(f"/api/schedules/{sid}/start").status_code == 200
    assert student.post(f"/api/schedules/{sid}/join").status_code == 200  # default: off
    knock = student.post(f"/api/schedules/{sid}/lobby/knock")
    assert knock.get_json()["error"]["code"] == "no_waiting_room"
    settings = admin.patch("/api/admin/settings", json={"waiting_room": True})
    assert settings.get_json()["waiting_room"] is True
    teacher = login(school.teacher)
    new = teacher.post(
        "/api/classes",
        json={
            "title": "New",
            "starts_at": school.schedule.starts_at.isoformat(),
            "duration_minutes": 30,
        },
    )
    assert new.get_json()["waiting_room"] is True
    chosen = teacher.post(
        "/api/classes",
        json={
            "title": "Open door",
            "starts_at": school.schedule.starts_at.isoformat(),
            "duration_minutes": 30,
            "waiting_room": False,
        },
    )
    assert chosen.get_json()["waiting_room"] is False
    # An existing class keeps its choice; its teacher changes it.
    classmate = login(school.classmate)
    assert classmate.post(f"/api/schedules/{sid}/join").status_code == 200
    changed = teacher.patch(f"/api/classes/{cid}", json={"waiting_room": True})
    assert changed.get_json()["waiting_room"] is True
    assert classmate.post(f"/api/schedules/{sid}/join").get_json()["error"]["code"] == (
        "waiting_room"
    )


def test_a_blocked_student_cannot_wait_either(running, login):
    blocking.block_user(
        running.teacher,
        user_id=running.student.id,
        scope="class",
        class_id=running.klass.id,
        reason="rude",
    )
    db.session.commit()
    knock = login(running.student).post(f"/api/schedules/{running.schedule.id}/lobby/knock")
    assert knock.status_code == 403
    assert db.session.execute(db.select(db.func.count(LobbyEntry.id))).scalar_one() == 0


def _dashboard(client, user) -> str:
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_dashboard_offers_no_join_to_a_blocked_student(school, client):
    assert "join-live" in _dashboard(client, school.student)
    blocking.block_user(
        school.teacher,
        user_id=school.student.id,
        scope="class",
        class_id=school.klass.id,
        reason="rude",
    )
    db.session.commit()
    client._cookies.clear()
    page = _dashboard(client, school.student)
    assert "join-live" not in page
    assert "you are blocked from this class" in page


def test_the_dashboard_offers_no_join_for_an_ended_occurrence(school, client, login):
    sid = school.schedule.id
    teacher = login(school.teacher)
    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    assert teacher.post(f"/api/schedules/{sid}/end").status_code == 200
    page = _dashboard(client, school.student)
    assert "class-ended" in page and "join-live" not in page


def test_the_dashboard_asks_a_student_to_rate_a_class_they_attended(school, client, login):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    assert student.post(f"/api/schedules/{sid}/join").status_code == 200
    assert teacher.post(f"/api/schedules/{sid}/end").status_code == 200
    page = _dashboard(client, school.student)
    assert f'href="/schedules/{sid}#feedback">Rate Algebra' in page
    # The classmate did not attend: no prompt for them.
    client._cookies.clear()
    assert "Rate Algebra" not in _dashboard(client, school.classmate)
    school.schedule.starts_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    rated = student.client.put(
        f"/api/schedules/{sid}/feedback", json={"rating": 4}, headers=student._headers()
    )
    assert rated.status_code in (200, 201), rated.get_json()
    client._cookies.clear()
    assert "Rate Algebra" not in _dashboard(client, school.student)
