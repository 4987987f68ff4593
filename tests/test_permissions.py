"""The permission matrix, enforced in services and visible through the API.

Each row: an action and the status every kind of user gets. Ids of classes a user may not
see answer 404 (not 403), so they do not learn that the class exists.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core import blocking
from portal.core.types import utcnow
from portal.extensions import db

ROLES = ["anonymous", "outsider", "blocked", "student", "other_teacher", "teacher", "admin"]


def _action_table(s):
    cid, sid = s.klass.id, s.schedule.id
    future = (utcnow() + timedelta(days=3)).isoformat()
    # action: (method, url, json, {role: expected status})
    return {
        "read class": (
            "GET",
            f"/api/classes/{cid}",
            None,
            dict(
                anonymous=401,
                outsider=404,
                blocked=200,
                student=200,
                other_teacher=404,
                teacher=200,
                admin=200,
            ),
        ),
        "edit class": (
            "PATCH",
            f"/api/classes/{cid}",
            {"title": "New"},
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=403,
                other_teacher=404,
                teacher=200,
                admin=200,
            ),
        ),
        "list enrolments": (
            "GET",
            f"/api/classes/{cid}/enrolments",
            None,
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=403,
                other_teacher=404,
                teacher=200,
                admin=200,
            ),
        ),
        "enrol": (
            "POST",
            f"/api/classes/{cid}/enrolments",
            {"user_ids": [s.outsider.id]},
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=403,
                other_teacher=404,
                teacher=201,
                admin=201,
            ),
        ),
        "move occurrence": (
            "PATCH",
            f"/api/schedules/{sid}",
            {"starts_at": future},
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=403,
                other_teacher=404,
                teacher=200,
                admin=200,
            ),
        ),
        "start": (
            "POST",
            f"/api/schedules/{sid}/start",
            None,
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=403,
                other_teacher=404,
                teacher=200,
                admin=200,
            ),
        ),
        "join before start": (
            "POST",
            f"/api/schedules/{sid}/join",
            None,
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=409,
                other_teacher=404,
                teacher=409,
                admin=409,
            ),
        ),
        "meeting state": (
            "GET",
            f"/api/schedules/{sid}/meeting",
            None,
            dict(
                anonymous=401,
                outsider=404,
                blocked=200,
                student=200,
                other_teacher=404,
                teacher=200,
                admin=200,
            ),
        ),
        "create user": (
            "POST",
            "/api/users",
            {"email": "new@tests.school", "name": "New"},
            dict(
                anonymous=401,
                outsider=403,
                blocked=403,
                student=403,
                other_teacher=403,
                teacher=403,
                admin=201,
            ),
        ),
        "list users": (
            "GET",
            "/api/users",
            None,
            dict(
                anonymous=401,
                outsider=403,
                blocked=403,
                student=403,
                other_teacher=200,
                teacher=200,
                admin=200,
            ),
        ),
        "configure backends": (
            "GET",
            "/api/admin/backends",
            None,
            dict(
                anonymous=401,
                outsider=403,
                blocked=403,
                student=403,
                other_teacher=403,
                teacher=403,
                admin=200,
            ),
        ),
        "block site-wide": (
            "POST",
            "/api/blocks",
            {"user_id": s.classmate.id, "scope": "site", "reason": "spam"},
            dict(
                anonymous=401,
                outsider=403,
                blocked=403,
                student=403,
                other_teacher=403,
                teacher=403,
                admin=201,
            ),
        ),
        "block from class": (
            "POST",
            "/api/blocks",
            {"user_id": s.classmate.id, "scope": "class", "class_id": cid, "reason": "spam"},
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=403,
                other_teacher=404,
                teacher=201,
                admin=201,
            ),
        ),
        "cancel class": (
            "POST",
            f"/api/classes/{cid}/cancel",
            None,
            dict(
                anonymous=401,
                outsider=404,
                blocked=403,
                student=403,
                other_teacher=404,
                teacher=200,
                admin=200,
            ),
        ),
    }


ACTIONS = [
    "read class",
    "edit class",
    "list enrolments",
    "enrol",
    "move occurrence",
    "start",
    "join before start",
    "meeting state",
    "create user",
    "list users",
    "configure backends",
    "block site-wide",
    "block from class",
    "cancel class",
]


@pytest.mark.parametrize("action", ACTIONS)
def test_permission_matrix(action, school, login, make_user, client):
    blocked = make_user("student")
    from portal.core import classes

    classes.enrol(school.teacher, school.klass.id, [blocked.id])
    blocking.block_user(
        school.teacher,
        user_id=blocked.id,
        scope="class",
        class_id=school.klass.id,
        reason="disruptive",
    )
    db.session.commit()
    people = {
        "outsider": school.outsider,
        "blocked": blocked,
        "student": school.student,
        "other_teacher": school.other_teacher,
        "teacher": school.teacher,
        "admin": school.admin,
    }
    method, url, payload, expected = _action_table(school)[action]
    seen = {}
    for role in ROLES:
        api = login(people[role]) if role != "anonymous" else None
        if api is None:
            response = client.open(url, method=method, json=payload)
        else:
            response = api.client.open(url, method=method, json=payload, headers=api._headers())
        seen[role] = response.status_code
        assert response.is_json or response.status_code == 204
        if response.status_code >= 400:
            assert set(response.get_json()["error"]) >= {"code", "message"}
        db.session.rollback()
        # Undo effects that would change the next role's answer.
        if action == "start" and response.status_code == 200:
            from portal.core.models import Meeting

            db.session.execute(db.delete(Meeting))
        if action in ("block site-wide", "block from class") and response.status_code == 201:
            from portal.core.models import BlockedUser

            db.session.execute(
                db.delete(BlockedUser).where(BlockedUser.user_id == school.classmate.id)
            )
        if action == "enrol" and response.status_code == 201:
            classes.unenrol(school.admin, school.klass.id, school.outsider.id)
        if action == "cancel class" and response.status_code == 200:
            school.klass.status = "active"
            for schedule in classes.list_schedules(school.admin, school.klass.id):
                schedule.status = "scheduled"
        db.session.commit()
    assert seen == expected


def test_blocked_student_cannot_join_a_running_class_and_unblock_restores(school, login):
    teacher, student = login(school.teacher), login(school.student)
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    admin = login(school.admin)
    block = admin.post(
        "/api/blocks", json={"user_id": school.student.id, "scope": "site", "reason": "abuse"}
    )
    assert block.status_code == 201
    refused = student.post(f"/api/schedules/{school.schedule.id}/join")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "blocked"
    assert "abuse" in refused.get_json()["error"]["message"]
    assert admin.delete(f"/api/blocks/{block.get_json()['id']}").status_code == 204
    assert student.post(f"/api/schedules/{school.schedule.id}/join").status_code == 200


def test_expired_block_no_longer_applies(school, login):
    from portal.core.models import BlockedUser

    db.session.add(
        BlockedUser(
            user_id=school.student.id,
            scope="site",
            reason="old",
            blocked_by=school.admin.id,
            expires_at=utcnow() - timedelta(minutes=1),
        )
    )
    db.session.commit()
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert (
        login(school.student).post(f"/api/schedules/{school.schedule.id}/join").status_code == 200
    )


def test_teacher_cannot_see_users_outside_their_classes(school, login):
    teacher = login(school.teacher)
    assert teacher.get(f"/api/users/{school.student.id}").status_code == 200
    assert teacher.get(f"/api/users/{school.outsider.id}").status_code == 404
    assert login(school.student).get(f"/api/users/{school.classmate.id}").status_code == 404


def test_student_cannot_promote_themselves(school, login):
    response = login(school.student).patch(
        f"/api/users/{school.student.id}", json={"role": "admin"}
    )
    assert response.status_code == 403
    db.session.refresh(school.student)
    assert school.student.role == "student"
