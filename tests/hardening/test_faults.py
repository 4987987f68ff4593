"""Fault injection: the database restarting under load, Redis dying, a meeting backend
answering garbage. The portal answers clearly (503 with a message), keeps serving what it
can, recovers by itself, and never leaves half-written rows."""

from __future__ import annotations

import contextlib
import json
import threading
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fake_backend import FAKE
from hardening_services import ThrowawayPostgres, ThrowawayRedis
from portal_testing import PASSWORD, make_app, missing_service

from portal.core import classes, users
from portal.core.models import Class, Meeting, Schedule
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import BackendUnavailable


def _bearer(client, email: str) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    client._cookies.clear()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


@pytest.fixture
def own_postgres():
    if not ThrowawayPostgres.available():
        missing_service("PostgreSQL server binaries (initdb, pg_ctl)")
    server = ThrowawayPostgres()
    try:
        url = server.start()
        yield server, url
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped by the test
            server.stop()
        server.cleanup()


def test_postgres_restart_during_writes_loses_nothing_and_recovers(own_postgres, tmp_path):
    server, url = own_postgres
    app = make_app(url, tmp_path)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        teacher = users.create_user(
            None, email="t@tests.school", name="T", role="teacher", password=PASSWORD
        )
        db.session.commit()
        client = app.test_client()
        headers = _bearer(client, teacher.email)
        starts = (utcnow() + timedelta(days=2)).isoformat()

        def create(n: int) -> int:
            return client.post(
                "/api/classes",
                headers=headers,
                json={
                    "title": f"C{n}",
                    "starts_at": starts,
                    "duration_minutes": 30,
                    "rrule": "FREQ=WEEKLY;COUNT=3",
                },
            ).status_code

        assert create(0) == 201
        restarter = threading.Thread(target=server.restart)
        restarter.start()
        statuses = [create(n) for n in range(1, 200) if restarter.is_alive() or n < 3]
        restarter.join(timeout=60)
        statuses += [create(1000 + n) for n in range(5)]
        assert set(statuses) <= {201, 503}, statuses
        assert statuses[-5:] == [201] * 5, "the pool did not recover after the restart"
        db.session.remove()
        created = 1 + statuses.count(201)
        assert db.session.execute(sa.select(sa.func.count(Class.id))).scalar_one() == created
        # Each class has all its occurrences: no class was committed without its schedules.
        per_class = db.session.execute(
            sa.select(Schedule.class_id, sa.func.count(Schedule.id)).group_by(Schedule.class_id)
        ).all()
        assert len(per_class) == created and {n for _, n in per_class} == {3}

        server.stop()
        down = client.get("/api/classes", headers=headers)
        assert down.status_code == 503
        assert down.get_json()["error"]["code"] == "database_unavailable"
        assert client.get("/readyz").status_code == 503
        server._ctl("start")
        assert client.get("/api/classes", headers=headers).status_code == 200
        assert client.get("/readyz").status_code == 200
        db.session.remove()
        db.engine.dispose()
    print(
        f"\npostgres restart: {len(statuses)} writes during the restart, {statuses.count(503)} "
        "refused with 503, "
        f"{statuses.count(201)} saved, 0 half-written"
    )


def test_redis_down_keeps_sign_in_pages_and_joins_working(
    database_url, tmp_path, make_user, fake_config
):
    if not ThrowawayRedis.available():
        missing_service("redis-server")
    server = ThrowawayRedis(tmp_path)
    redis_url = server.start()
    try:
        app = make_app(database_url, tmp_path, REDIS_URL=redis_url, SOCKETIO_CHANNEL="faults")
        with app.app_context():
            teacher, student = make_user("teacher"), make_user("student")
            klass = classes.create_class(
                teacher,
                classes.ClassInput(
                    title="Fault Lines",
                    starts_at=utcnow() + timedelta(minutes=5),
                    duration_minutes=60,
                    timezone="UTC",
                ),
            )
            classes.enrol(teacher, klass.id, [student.id])
            db.session.commit()
            schedule_id = classes.list_schedules(teacher, klass.id)[0].id
            client = app.test_client()
            assert client.get("/login").status_code == 200
            server.kill()
            teacher_headers = _bearer(client, teacher.email)
            student_headers = _bearer(client, student.email)
            assert (
                client.post(
                    f"/api/schedules/{schedule_id}/start", headers=teacher_headers
                ).status_code
                == 200
            )
            join = client.post(f"/api/schedules/{schedule_id}/join", headers=student_headers)
            assert join.status_code == 200, join.get_json()
            assert client.get("/login").status_code == 200
            page = client.post("/login", data={"email": student.email, "password": PASSWORD})
            assert page.status_code == 302
            dashboard = client.get("/")
            assert dashboard.status_code == 200 and b"Fault Lines" in dashboard.data
            chat = client.post(
                f"/api/schedules/{schedule_id}/chat",
                headers=student_headers,
                json={"body": "still here?"},
            )
            assert chat.status_code in (201, 503), chat.get_json()
            db.session.remove()
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (ValueError("Expecting value: line 1 column 1 (char 0)"), "backend_error"),
        (json.JSONDecodeError("Expecting value", "<html>oops</html>", 0), "backend_error"),
        (ET.ParseError("not well-formed (invalid token): line 1, column 0"), "backend_error"),
        (KeyError("returncode"), "backend_error"),
        (BackendUnavailable("timed out after 10 s", code="backend_timeout"), "backend_timeout"),
    ],
)
def test_garbage_or_silent_backend_is_a_clear_503_and_nothing_half_created(
    school, login, client, fault, code, monkeypatch
):
    FAKE.fail_with = fault
    if not isinstance(fault, BackendUnavailable):
        # The health probe gets the same garbage (the fake only fails it for BackendUnavailable).
        def garbage_health(settings):
            raise fault

        monkeypatch.setattr(FAKE, "check_health", garbage_health)
    teacher, admin = login(school.teacher), login(school.admin)
    response = teacher.post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == code and "meeting server" in error["message"]
    assert "Traceback" not in error["message"] and "char 0" not in error["message"]
    assert db.session.execute(sa.select(sa.func.count(Meeting.id))).scalar_one() == 0
    # Health shows it, to the admin and the readiness probe.
    health = admin.post(f"/api/admin/backends/{school.config.id}/test")
    assert health.status_code == 200 and health.get_json()["ok"] is False
    ready = client.get("/readyz").get_json()
    assert ready["checks"]["backends"][0]["ok"] is False
    # Once the backend answers again, the same class starts normally.
    FAKE.fail_with = None
    monkeypatch.undo()
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
