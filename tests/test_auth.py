"""Password login, JWT access/refresh, revocation on logout, cookies with CSRF, rate limits."""

from __future__ import annotations

from portal_testing import PASSWORD, make_app


def _cookie(client, name):
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def test_login_returns_tokens_that_open_the_api(client, make_user):
    user = make_user("teacher")
    response = client.post(
        "/api/auth/login", json={"email": user.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["role"] == "teacher"
    client._cookies.clear()
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["email"] == user.email


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_user):
    user = make_user()
    wrong = client.post("/api/auth/login", json={"email": user.email, "password": "nope-nope-nope"})
    unknown = client.post(
        "/api/auth/login", json={"email": "ghost@tests.school", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.get_json()["error"]["message"]
        == unknown.get_json()["error"]["message"]
        == "wrong email or password"
    )


def test_disabled_account_cannot_sign_in(client, make_user):
    """Even with the right password: the answer is the one an unknown email gets, so a
    leaked password does not confirm that the (disabled) account exists."""
    from portal.extensions import db

    user = make_user()
    user.is_active = False
    db.session.commit()
    response = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_credentials"


def test_every_password_login_does_the_same_hash_work(client, make_user, monkeypatch):
    """Login timing must not reveal which emails have accounts: an unknown email, a disabled
    account and an SSO-only account (no password) each cost exactly one argon2 verification
    with the same parameters as a real account's, like a wrong password does."""
    from argon2 import PasswordHasher

    from portal.extensions import db

    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        verified.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    known, disabled, sso_only = make_user(), make_user(), make_user()
    disabled.is_active = False
    sso_only.password_hash = None
    db.session.commit()
    parameters = known.password_hash.rsplit("$", 2)[0].split("$")[
        1:4
    ]  # argon2id, v=19, m=..,t=..,p=..
    attempts = {
        "wrong password": (known.email, "not-the-password"),
        "unknown email": ("ghost@tests.school", PASSWORD),
        "disabled account": (disabled.email, PASSWORD),
        "SSO-only account": (sso_only.email, PASSWORD),
        "not an email at all": ("not-an-email", PASSWORD),
    }
    for label, (email, password) in attempts.items():
        verified.clear()
        response = client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 401, label
        assert response.get_json()["error"]["message"] == "wrong email or password", label
        assert len(verified) == 1, f"{label}: {len(verified)} hash verifications instead of 1"
        assert verified[0].rsplit("$", 2)[0].split("$")[1:4] == parameters, label
    verified.clear()
    assert (
        client.post(
            "/api/auth/login", json={"email": known.email, "password": PASSWORD}
        ).status_code
        == 200
    )
    assert len(verified) == 1


def test_logout_revokes_the_access_and_refresh_tokens(client, make_user):
    user = make_user()
    tokens = client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD}
    ).get_json()
    client._cookies.clear()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (
        client.post(
            "/api/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=bearer
        ).status_code
        == 200
    )
    after = client.get("/api/auth/me", headers=bearer)
    assert after.status_code == 401
    assert after.get_json()["error"]["code"] == "token_revoked"
    refreshed = client.post(
        "/api/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert refreshed.status_code == 401


def test_refresh_token_gives_a_new_access_token_but_access_token_cannot_refresh(client, make_user):
    user = make_user()
    tokens = client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD}
    ).get_json()
    client._cookies.clear()
    ok = client.post(
        "/api/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert ok.status_code == 200
    assert (
        client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {ok.get_json()['access_token']}"}
        ).status_code
        == 200
    )
    wrong_kind = client.post(
        "/api/auth/refresh", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert wrong_kind.status_code == 401


def test_cookies_are_httponly_and_state_changes_need_the_csrf_header(client, make_user):
    user = make_user()
    response = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    set_cookies = response.headers.getlist("Set-Cookie")
    access = next(c for c in set_cookies if c.startswith("access_token_cookie="))
    assert "HttpOnly" in access and "SameSite=Lax" in access
    csrf_cookie = next(c for c in set_cookies if c.startswith("csrf_access_token="))
    assert "HttpOnly" not in csrf_cookie  # the page's script must read it to send the header

    assert client.get("/api/auth/me").status_code == 200  # reads need no CSRF header
    without = client.patch(f"/api/users/{user.id}", json={"name": "Changed"})
    assert without.status_code == 401
    assert without.get_json()["error"]["code"] == "csrf_failed"
    with_header = client.patch(
        f"/api/users/{user.id}",
        json={"name": "Changed"},
        headers={"X-CSRF-TOKEN": _cookie(client, "csrf_access_token")},
    )
    assert with_header.status_code == 200 and with_header.get_json()["name"] == "Changed"


def test_tampered_and_missing_tokens_are_401_with_json(client):
    assert client.get("/api/auth/me").get_json()["error"]["code"] == "not_authenticated"
    bad = client.get(
        "/api/auth/me", headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA"}
    )
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "invalid_token"


def test_login_is_rate_limited(database_url, tmp_path, make_user):
    user = make_user()
    limited = make_app(database_url, tmp_path, LOGIN_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    codes = [
        client.post(
            "/api/auth/login", json={"email": user.email, "password": "wrong-password!"}
        ).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]
    assert (
        client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}).status_code
        == 429
    )


def test_change_password(client, make_user, login):
    user = make_user()
    api = login(user)
    assert (
        api.post(
            "/api/auth/password",
            json={"current_password": "wrong", "new_password": "a-new-password-1"},
        ).status_code
        == 400
    )
    assert (
        api.post(
            "/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"}
        ).status_code
        == 400
    )
    assert (
        api.post(
            "/api/auth/password",
            json={"current_password": PASSWORD, "new_password": "a-new-password-1"},
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/auth/login", json={"email": user.email, "password": "a-new-password-1"}
        ).status_code
        == 200
    )


def test_rate_limit_is_shared_through_redis_across_processes(
    database_url, tmp_path, make_user, redis_url
):
    """With PORTAL_REDIS_URL set, every worker process counts against the same limit."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    user = make_user()
    worker_a = make_app(
        database_url, tmp_path, REDIS_URL=redis_url, LOGIN_RATE_LIMIT="2 per minute"
    ).test_client()
    worker_b = make_app(
        database_url, tmp_path, REDIS_URL=redis_url, LOGIN_RATE_LIMIT="2 per minute"
    ).test_client()
    attempt = {"email": user.email, "password": "wrong-password!"}
    assert worker_a.post("/api/auth/login", json=attempt).status_code == 401
    assert worker_b.post("/api/auth/login", json=attempt).status_code == 401
    assert worker_a.post("/api/auth/login", json=attempt).status_code == 429
    assert worker_b.post("/api/auth/login", json=attempt).status_code == 429
    assert redis.Redis.from_url(redis_url).keys("LIMITS*"), "the counters must live in Redis"
