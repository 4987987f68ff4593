"""Admins configure meeting backends: validated settings, secrets never shown back, health."""

from __future__ import annotations

from fake_backend import FAKE

from portal.core.models import BackendConfig
from portal.extensions import db
from portal.plugins import BackendUnavailable


def test_admin_configures_a_backend_and_the_secret_is_masked_and_encrypted(make_user, login):
    admin = login(make_user("admin"))
    created = admin.post(
        "/api/admin/backends",
        json={
            "name": "Main server",
            "backend": "fake",
            "settings": {"secret": "very-secret-value-42"},
            "is_default": True,
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["settings"]["secret"] == "••••e-42"
    stored = db.session.get(BackendConfig, body["id"])
    assert "very-secret-value-42" not in str(stored.settings)  # encrypted at rest
    listed = admin.get("/api/admin/backends").get_json()
    assert "very-secret-value-42" not in str(listed)


def test_editing_other_settings_keeps_the_stored_secret(make_user, login):
    from portal.core.backends import effective_settings

    admin = login(make_user("admin"))
    config_id = admin.post(
        "/api/admin/backends",
        json={"name": "S", "backend": "fake", "settings": {"secret": "keep-me-please-123"}},
    ).get_json()["id"]
    masked = admin.get(f"/api/admin/backends/{config_id}").get_json()["settings"]
    updated = admin.patch(
        f"/api/admin/backends/{config_id}",
        json={"settings": {**masked, "url": "https://other.example"}},
    )
    assert updated.status_code == 200
    assert (
        effective_settings(db.session.get(BackendConfig, config_id))["secret"]
        == "keep-me-please-123"
    )


def test_invalid_settings_are_refused_with_the_field(make_user, login):
    admin = login(make_user("admin"))
    response = admin.post(
        "/api/admin/backends", json={"name": "S", "backend": "fake", "settings": {"secret": "x"}}
    )
    assert response.status_code == 400
    assert "secret" in response.get_json()["error"]["message"]
    unknown = admin.post(
        "/api/admin/backends", json={"name": "S", "backend": "nope", "settings": {}}
    )
    assert unknown.status_code == 400 and unknown.get_json()["error"]["code"] == "unknown_backend"
    assert db.session.execute(db.select(db.func.count(BackendConfig.id))).scalar_one() == 0


def test_test_connection_reports_health_and_readyz_shows_it(make_user, login, client, fake_config):
    admin = login(make_user("admin"))
    ok = admin.post(f"/api/admin/backends/{fake_config.id}/test").get_json()
    assert ok["ok"] is True and ok["version"] == "1.0"
    FAKE.fail_with = BackendUnavailable("connection refused by fake.example")
    bad = admin.post(f"/api/admin/backends/{fake_config.id}/test").get_json()
    assert bad == {**bad, "ok": False, "message": "connection refused by fake.example"}
    ready = client.get("/readyz").get_json()
    assert ready["checks"]["backends"][0]["ok"] is False


def test_backend_in_use_cannot_be_deleted(school, login):
    admin = login(school.admin)
    school.klass.backend_config_id = school.config.id
    db.session.commit()
    response = admin.delete(f"/api/admin/backends/{school.config.id}")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "backend_in_use"


def test_backend_types_expose_the_settings_schema(make_user, login):
    types = login(make_user("admin")).get("/api/admin/backend-types").get_json()
    fake = next(t for t in types if t["name"] == "fake")
    assert fake["settings_schema"]["properties"]["secret"]["writeOnly"] is True
    assert fake["capabilities"]["end"] is True


def test_plugins_listing_for_admins(make_user, login):
    rows = login(make_user("admin")).get("/api/admin/plugins").get_json()
    names = {r["name"] for r in rows}
    assert {"outbox", "fake_backend"} <= names
