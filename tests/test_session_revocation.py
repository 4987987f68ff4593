"""Sign-in sessions end when they must: a password change ends every other session, a
deactivation ends all of them for good, and signing out with only the access token also
kills that session's refresh token. Checked where a holder of the old tokens would use
them: the REST API (access and refresh) and the live socket."""

from __future__ import annotations

import pytest
import socketio
from live_client import LiveClient, close_all
from portal_testing import PASSWORD

from portal.extensions import db

NEW_PASSWORD = "a-brand-new-password-7"


def _sign_in(client, user, password: str = PASSWORD) -> dict:
    """A separate session (say, another device): its own access and refresh token."""
    response = client.post("/api/auth/login", json={"email": user.email, "password": password})
    assert response.status_code == 200, response.get_json()
    client._cookies.clear()  # bearer only: each "device" keeps its own tokens
    return response.get_json()


def _me(client, access_token: str):
    return client.get("/api/auth/me", headers={"Authorization": f"Bearer {access_token}"})


def _refresh(client, refresh_token: str):
    return client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {refresh_token}"})


@pytest.fixture
def live(portal_url, app):
    clients: list[LiveClient] = []

    def open_socket(token: str) -> LiveClient:
        client = LiveClient(portal_url, token, origin=app.config["BASE_URL"])
        clients.append(client)
        return client

    yield open_socket
    close_all(clients)


def test_a_password_change_ends_every_other_session(client, school, live):
    student = school.student
    laptop, stolen = _sign_in(client, student), _sign_in(client, student)
    open_socket = live(stolen["access_token"]).connect()
    assert open_socket.join(school.schedule.id)["ok"]

    changed = client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {laptop['access_token']}"},
    )
    assert changed.status_code == 200, changed.get_json()

    # The other session is over: its access token, its refresh token, its live socket.
    assert _me(client, stolen["access_token"]).status_code == 401
    assert _refresh(client, stolen["refresh_token"]).status_code == 401
    refused = open_socket.call(
        "chat:send", {"schedule_id": school.schedule.id, "body": "still here?"}
    )
    assert refused["ok"] is False and refused["error"]["code"] == "not_authenticated"
    with pytest.raises(socketio.exceptions.ConnectionError):
        live(stolen["access_token"]).connect()
    # The session that changed the password goes on with the fresh tokens it was given.
    fresh = changed.get_json()
    assert _me(client, fresh["access_token"]).status_code == 200
    refreshed = _refresh(client, fresh["refresh_token"])
    assert refreshed.status_code == 200
    assert _me(client, refreshed.get_json()["access_token"]).status_code == 200
    assert live(fresh["access_token"]).connect().join(school.schedule.id)["ok"]
    # And the old password is gone with them.
    assert (
        client.post(
            "/api/auth/login", json={"email": student.email, "password": PASSWORD}
        ).status_code
        == 401
    )


def test_a_password_change_in_the_browser_keeps_that_browser_signed_in(client, make_user):
    user = make_user()
    other_device = _sign_in(client, user)
    assert (
        client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}).status_code
        == 200
    )
    csrf = {"X-CSRF-TOKEN": client.get_cookie("csrf_access_token").value}
    changed = client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=csrf,
    )
    assert changed.status_code == 200
    assert client.get("/api/auth/me").status_code == 200  # the renewed cookies
    assert client.get("/profile").status_code == 200
    assert (
        client.post(
            "/api/auth/refresh",
            headers={"X-CSRF-TOKEN": client.get_cookie("csrf_refresh_token").value},
        ).status_code
        == 200
    )
    assert _me(client, other_device["access_token"]).status_code == 401


def test_deactivation_ends_every_session_and_reactivation_does_not_revive_them(
    client, school, login, live
):
    student = school.student
    session = _sign_in(client, student)
    admin = login(school.admin)
    assert admin.patch(f"/api/users/{student.id}", json={"is_active": False}).status_code == 200
    assert admin.patch(f"/api/users/{student.id}", json={"is_active": True}).status_code == 200

    assert _me(client, session["access_token"]).status_code == 401
    assert _refresh(client, session["refresh_token"]).status_code == 401
    with pytest.raises(socketio.exceptions.ConnectionError):
        live(session["access_token"]).connect()
    # Signing in again after reactivation works as usual.
    again = _sign_in(client, student)
    assert _me(client, again["access_token"]).status_code == 200


def test_a_role_or_profile_change_ends_no_session(client, school, login):
    session = _sign_in(client, school.student)
    assert (
        login(school.admin)
        .patch(f"/api/users/{school.student.id}", json={"name": "Renamed"})
        .status_code
        == 200
    )
    assert _me(client, session["access_token"]).status_code == 200
    assert _refresh(client, session["refresh_token"]).status_code == 200


def test_a_bearer_logout_also_revokes_its_refresh_token(client, make_user):
    user = make_user()
    phone, laptop = _sign_in(client, user), _sign_in(client, user)
    # Only the access token is presented: no refresh token in the body, no cookies.
    logout = client.post(
        "/api/auth/logout", headers={"Authorization": f"Bearer {phone['access_token']}"}
    )
    assert logout.status_code == 200
    assert _me(client, phone["access_token"]).status_code == 401
    refreshed = _refresh(client, phone["refresh_token"])
    assert refreshed.status_code == 401 and refreshed.get_json()["error"]["code"] == "token_revoked"
    # Another session of the same person is not signed out with it.
    assert _me(client, laptop["access_token"]).status_code == 200
    assert _refresh(client, laptop["refresh_token"]).status_code == 200


def test_an_access_token_refreshed_before_logout_dies_with_its_session(client, make_user):
    user = make_user()
    session = _sign_in(client, user)
    refreshed = _refresh(client, session["refresh_token"]).get_json()["access_token"]
    assert (
        client.post(
            "/api/auth/logout", headers={"Authorization": f"Bearer {session['access_token']}"}
        ).status_code
        == 200
    )
    assert _me(client, refreshed).status_code == 401


def test_revoked_sessions_are_purged_once_harmless(app, make_user, client):
    """Session revocations are rows like token revocations: kept while a refresh token of
    the session could still be valid, purged by the periodic job after that."""
    from datetime import timedelta

    from portal.core import auth_tokens
    from portal.core.models import RevokedToken
    from portal.core.types import utcnow

    session = _sign_in(client, make_user())
    client.post("/api/auth/logout", headers={"Authorization": f"Bearer {session['access_token']}"})
    rows = {
        row.jti: row.expires_at for row in db.session.execute(db.select(RevokedToken)).scalars()
    }
    session_rows = [jti for jti in rows if jti.startswith("sid:")]
    assert len(session_rows) == 1
    assert rows[session_rows[0]] >= utcnow() + app.config["JWT_REFRESH_TOKEN_EXPIRES"] - timedelta(
        minutes=1
    )
    assert auth_tokens.purge_expired() == 0
    db.session.execute(db.update(RevokedToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert auth_tokens.purge_expired() == len(rows)
