"""Users over the API and the `portal` command line; the demo seed."""

from __future__ import annotations

import pytest

from portal.core.models import Class, User
from portal.extensions import db


def test_admin_creates_users_and_duplicates_are_409(make_user, login):
    admin = login(make_user("admin"))
    created = admin.post(
        "/api/users",
        json={
            "email": "Pat@Tests.School",
            "name": "Pat",
            "role": "teacher",
            "password": "long-enough-pass",
            "phone": "+33 6 12 34 56 78",
        },
    )
    assert created.status_code == 201
    assert created.get_json()["email"] == "pat@tests.school"
    assert created.get_json()["phone"] == "+33612345678"
    again = admin.post("/api/users", json={"email": "pat@tests.school", "name": "Pat"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("email", "not-an-email", "invalid_email"),
        ("phone", "0612", "invalid_phone"),
        ("password", "short", "weak_password"),
    ],
)
def test_invalid_user_input_is_refused_clearly(make_user, login, field, value, code):
    admin = login(make_user("admin"))
    payload = {"email": "ok@tests.school", "name": "Ok", field: value}
    response = admin.post("/api/users", json=payload)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_profile_preferences_and_sms_needs_a_phone(make_user, login):
    user = make_user()
    api = login(user)
    refused = api.patch(f"/api/users/{user.id}", json={"notify_sms": True})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "no_phone"
    ok = api.patch(
        f"/api/users/{user.id}",
        json={"phone": "+4915112345678", "notify_sms": True, "timezone": "Europe/Berlin"},
    )
    assert ok.status_code == 200
    assert ok.get_json()["notify_sms"] is True and ok.get_json()["timezone"] == "Europe/Berlin"


def test_cli_creates_a_user(app):
    runner = app.test_cli_runner()
    from portal.cli import _register_commands

    _register_commands(app)
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "cli@tests.school",
            "--name",
            "Cli",
            "--role",
            "teacher",
            "--password",
            "a-long-password",
        ]
    )
    assert result.exit_code == 0, result.output
    assert (
        db.session.execute(db.select(User).filter_by(email="cli@tests.school")).scalar_one().role
        == "teacher"
    )
    duplicate = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "cli@tests.school",
            "--name",
            "Cli",
            "--password",
            "a-long-password",
        ]
    )
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output


def test_demo_seed_runs_once(app, fake_config):
    from portal.core import demo

    assert demo.seed_if_empty() is True
    assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == 15
    assert db.session.execute(db.select(db.func.count(Class.id))).scalar_one() == 3
    assert demo.seed_if_empty() is False
    assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == 15


def test_the_demo_command_leaves_a_school_that_can_sign_in(app, fake_config, database_url):
    """`make run` seeds with `portal demo`, then serves from another connection: the seed
    must be committed, or every demo login answers "wrong email or password"."""
    import sqlalchemy as sa

    from portal.cli import _register_commands
    from portal.core.demo import DEMO_PASSWORD

    _register_commands(app)
    db.session.commit()  # the fake backend configuration, as `make run` has its defaults
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as other:
            users = other.execute(sa.select(sa.func.count()).select_from(User.__table__))
            assert users.scalar_one() == 15
    finally:
        engine.dispose()
    signed_in = app.test_client().post(
        "/api/auth/login", json={"email": "admin@demo.school", "password": DEMO_PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.get_json()
