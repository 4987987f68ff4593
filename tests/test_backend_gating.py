"""A meeting backend whose connection test failed (or never ran) is not offered to teachers
until it passes; administrators see why; a class already on it does not start, with words
saying so."""

from __future__ import annotations

from fake_backend import FAKE

from portal.core.models import BackendConfig
from portal.extensions import db
from portal.plugins.types import BackendUnavailable


def _second_config(health_ok: bool | None) -> BackendConfig:
    config = BackendConfig(
        name="Spare", backend="fake", enabled=True, settings={}, health_ok=health_ok
    )
    db.session.add(config)
    db.session.commit()
    return config


def test_untested_and_failing_backends_are_not_offered_until_their_test_passes(school, login):
    spare = _second_config(None)
    teacher, admin = login(school.teacher), login(school.admin)
    assert [c["name"] for c in teacher.get("/api/backends").get_json()] == ["Fake"]
    assert admin.post(f"/api/admin/backends/{spare.id}/test").get_json()["ok"] is True
    assert [c["name"] for c in teacher.get("/api/backends").get_json()] == ["Fake", "Spare"]
    FAKE.fail_with = BackendUnavailable("connection refused by spare.example")
    assert admin.post(f"/api/admin/backends/{spare.id}/test").get_json()["ok"] is False
    assert [c["name"] for c in teacher.get("/api/backends").get_json()] == ["Fake"]


def test_the_class_form_hides_them_from_teachers_and_tells_admins_why(school, client):
    _second_config(False).health_message = "connection refused"
    db.session.commit()
    page_for = {}
    for person in (school.teacher, school.admin):
        client.post("/login", data={"email": person.email, "password": "correct-horse-battery"})
        page_for[person.role] = client.get("/classes/new").get_data(as_text=True)
        client.post("/logout")
    assert "Spare" not in page_for["teacher"]
    assert "Spare" in page_for["admin"]
    assert (
        "not offered to teachers: its last connection test failed: connection refused"
        in (page_for["admin"])
    )


def test_choosing_a_failing_backend_is_refused(school, login):
    spare = _second_config(False)
    answer = login(school.teacher).patch(
        f"/api/classes/{school.klass.id}", json={"backend_config_id": spare.id}
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "backend_failing"


def test_a_class_on_a_backend_that_fails_its_test_does_not_start(school, login):
    teacher, admin = login(school.teacher), login(school.admin)
    school.klass.backend_config_id = school.config.id
    db.session.commit()
    FAKE.fail_with = BackendUnavailable("connection refused by fake.example")
    admin.post(f"/api/admin/backends/{school.config.id}/test")
    # Still failing when the start tests it again: refused, clearly, nothing created.
    refused = teacher.post(f"/api/schedules/{school.schedule.id}/start")
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "backend_failing"
    assert "failed its last connection test" in error["message"]
    assert "connection refused by fake.example" in error["message"]
    assert FAKE.created == []
    # The server is back: the start's own test passes and the class starts, without
    # waiting for an administrator or the periodic test.
    FAKE.fail_with = None
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
