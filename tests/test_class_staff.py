"""Co-teachers and teaching assistants: what each may do in a class (portal/core/access.py),
who may change them, and what the backend is told about them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fake_backend import FAKE

from portal.core import staff
from portal.core.models import Attendance
from portal.core.types import utcnow
from portal.extensions import db


@pytest.fixture
def staffed(school, make_user):
    """The sweep's school plus a co-teacher and an assistant of its class."""
    school.co_teacher = make_user("teacher")
    school.assistant = make_user("teacher")
    staff.add_staff(school.teacher, school.klass.id, school.co_teacher.email, "co_teacher")
    staff.add_staff(school.teacher, school.klass.id, school.assistant.email, "assistant")
    db.session.commit()
    return school


def test_a_co_teacher_starts_and_ends_a_class_the_owner_created_as_moderator(staffed, login):
    co, student = login(staffed.co_teacher), login(staffed.student)
    sid = staffed.schedule.id
    started = co.post(f"/api/schedules/{sid}/start")
    assert started.status_code == 200, started.get_json()
    assert f"user={staffed.co_teacher.id}&role=moderator" in started.get_json()["join"]["url"]
    assert student.post(f"/api/schedules/{sid}/join").status_code == 200
    report = co.get(f"/api/schedules/{sid}/attendance")
    assert report.status_code == 200
    roles = {row["name"]: row["role"] for row in report.get_json()["rows"]}
    assert roles[staffed.co_teacher.name] == "teacher"
    assert roles[staffed.student.name] == "student"
    assert co.post(f"/api/schedules/{sid}/end").status_code == 200
    assert len(FAKE.ended) == 1


def test_an_assistant_moderates_but_cannot_start_end_or_edit(staffed, login):
    assistant, teacher = login(staffed.assistant), login(staffed.teacher)
    sid, cid = staffed.schedule.id, staffed.klass.id
    refused = assistant.post(f"/api/schedules/{sid}/start")
    assert refused.status_code == 403
    assert assistant.patch(f"/api/classes/{cid}", json={"title": "Mine"}).status_code == 403
    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    assert assistant.post(f"/api/schedules/{sid}/end").status_code == 403
    # It joins the backend as a viewer: a backend moderator could end the meeting.
    joined = assistant.post(f"/api/schedules/{sid}/join")
    assert joined.status_code == 200
    assert "role=viewer" in joined.get_json()["url"]
    poll = assistant.post(
        f"/api/schedules/{sid}/polls", json={"question": "Ready?", "options": ["yes", "no"]}
    )
    assert poll.status_code == 201, poll.get_json()
    message = login(staffed.student).post(f"/api/schedules/{sid}/chat", json={"body": "spam"})
    assert assistant.delete(f"/api/chat/{message.get_json()['id']}").status_code == 204
    assert assistant.get(f"/api/schedules/{sid}/attendance").status_code == 403


def test_a_co_teacher_cannot_delete_the_class_or_change_its_staff(staffed, login, make_user):
    co = login(staffed.co_teacher)
    cid = staffed.klass.id
    cancelled = co.post(f"/api/classes/{cid}/cancel")
    assert cancelled.status_code == 403
    assert cancelled.get_json()["error"]["message"].startswith("only this class's owner")
    newcomer = make_user("teacher")
    added = co.post(
        f"/api/classes/{cid}/staff", json={"email": newcomer.email, "role": "assistant"}
    )
    assert added.status_code == 403
    assert co.delete(f"/api/classes/{cid}/staff/{staffed.assistant.id}").status_code == 403
    assert login(staffed.teacher).get(f"/api/classes/{cid}").get_json()["status"] == "active"
    assert len(staff.list_staff(staffed.teacher, cid)) == 2


def test_the_owner_adds_changes_and_removes_staff(staffed, login, make_user):
    owner = login(staffed.teacher)
    cid = staffed.klass.id
    newcomer = make_user("teacher")
    added = owner.post(
        f"/api/classes/{cid}/staff", json={"email": newcomer.email.upper(), "role": "assistant"}
    )
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["user"]["name"] == newcomer.name
    # Adding again changes the role, it never duplicates the row.
    again = owner.post(
        f"/api/classes/{cid}/staff", json={"email": newcomer.email, "role": "co_teacher"}
    )
    assert again.get_json()["role"] == "co_teacher"
    listed = owner.get(f"/api/classes/{cid}/staff").get_json()
    assert sorted(row["role"] for row in listed) == ["assistant", "co_teacher", "co_teacher"]
    # The co-teacher sees the class in their lists, then loses it when removed.
    new_api = login(newcomer)
    assert [c["id"] for c in new_api.get("/api/classes").get_json()["items"]] == [cid]
    assert owner.delete(f"/api/classes/{cid}/staff/{newcomer.id}").status_code == 204
    assert new_api.get(f"/api/classes/{cid}").status_code == 404
    assert new_api.get("/api/classes").get_json()["items"] == []
    gone = owner.delete(f"/api/classes/{cid}/staff/{newcomer.id}")
    assert gone.status_code == 404


def test_staff_must_be_a_teacher_of_the_school_and_the_answer_does_not_tell_who_exists(
    staffed, login
):
    owner = login(staffed.teacher)
    cid = staffed.klass.id
    answers = set()
    for email in ("nobody@tests.school", staffed.student.email, staffed.admin.email):
        response = owner.post(
            f"/api/classes/{cid}/staff", json={"email": email, "role": "assistant"}
        )
        error = response.get_json()["error"]
        answers.add((response.status_code, error["code"], error["message"]))
    assert answers == {(400, "not_a_teacher", "no teacher of this school has that email")}
    own = owner.post(
        f"/api/classes/{cid}/staff", json={"email": staffed.teacher.email, "role": "co_teacher"}
    )
    assert (own.status_code, own.get_json()["error"]["code"]) == (400, "already_owner")
    bad_role = owner.post(
        f"/api/classes/{cid}/staff", json={"email": staffed.other_teacher.email, "role": "boss"}
    )
    assert bad_role.status_code == 400
    assert len(staff.list_staff(staffed.teacher, cid)) == 2


def test_an_admin_changes_the_staff_of_any_class(staffed, login):
    admin = login(staffed.admin)
    cid = staffed.klass.id
    response = admin.post(
        f"/api/classes/{cid}/staff",
        json={"email": staffed.other_teacher.email, "role": "assistant"},
    )
    assert response.status_code == 201
    assert admin.delete(f"/api/classes/{cid}/staff/{staffed.co_teacher.id}").status_code == 204


def test_staff_cannot_be_blocked_or_muted_in_their_class(staffed, login):
    co = login(staffed.co_teacher)
    cid = staffed.klass.id
    block = co.post(
        "/api/blocks",
        json={"user_id": staffed.assistant.id, "scope": "class", "class_id": cid, "reason": "x"},
    )
    assert block.status_code == 400
    mute = co.post(f"/api/classes/{cid}/mutes", json={"user_id": staffed.assistant.id})
    assert mute.status_code == 400
    # A co-teacher blocks a student of the class like its owner.
    student_block = co.post(
        "/api/blocks",
        json={"user_id": staffed.student.id, "scope": "class", "class_id": cid, "reason": "rude"},
    )
    assert student_block.status_code == 201


def test_staff_do_not_rate_the_class_they_teach(staffed, login):
    staffed.schedule.starts_at = utcnow() - timedelta(hours=2)
    staffed.schedule.ends_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    for person in (staffed.co_teacher, staffed.assistant):
        api = login(person)
        response = api.client.put(
            f"/api/schedules/{staffed.schedule.id}/feedback",
            json={"rating": 5},
            headers=api._headers(),
        )
        assert response.status_code == 403
    assert db.session.execute(db.select(db.func.count(Attendance.id))).scalar_one() == 0
