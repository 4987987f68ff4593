"""Back-channel logout from insp, the link back to insp, the purge job and the CLI."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from insp_tokens import AUDIENCE, ISSUER, LINK_URL, SECRET, hs_token, public_pem, rsa_key
from portal_sso_insp.models import SsoToken
from portal_testing import PASSWORD

from portal.core.models import AuditLog, User
from portal.core.types import utcnow
from portal.extensions import db

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token(key=SECRET, algorithm="HS256", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "insp-1001",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {LOGOUT_EVENT: {}},
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def next_second() -> None:
    """Portal tokens carry iat in whole seconds; the cutoff refuses tokens of earlier seconds."""
    start = int(time.time())
    deadline = time.monotonic() + 2
    while int(time.time()) == start and time.monotonic() < deadline:
        time.sleep(0.02)


def sso_login(client, **overrides):
    response = client.get("/sso/insp/login", query_string={"token": hs_token(**overrides)})
    assert response.status_code == 303, response.data
    return client.get("/api/auth/me").get_json()


def test_back_channel_logout_refuses_tokens_issued_before(client):
    user = sso_login(client)
    session_token = client.get_cookie("access_token_cookie").value
    # No waiting: a session opened in the same second as the logout is refused too.
    response = client.post("/sso/insp/backchannel-logout", data={"logout_token": logout_token()})
    assert response.status_code == 200
    assert response.get_json() == {"logged_out": True}
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/api/auth/me").status_code == 401
    other = client.application.test_client()
    assert (
        other.get("/api/auth/me", headers={"Authorization": f"Bearer {session_token}"}).status_code
        == 401
    )
    assert db.session.execute(db.select(AuditLog).filter_by(action="user.logout")).scalar_one()
    # Signing in again afterwards works (from the next second on).
    next_second()
    assert sso_login(client)["id"] == user["id"]


def test_back_channel_logout_with_rs256(make_sso_app):
    key = rsa_key()
    client = make_sso_app(SSO_INSP_PUBLIC_KEY=public_pem(key)).test_client()
    sso_login(client)
    response = client.post(
        "/sso/insp/backchannel-logout",
        data={"logout_token": logout_token(key=key, algorithm="RS256")},
    )
    assert response.status_code == 200
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (lambda: logout_token(key="wrong-secret-0123456789-abcdefghijklmnopq"), "bad_signature"),
        (lambda: logout_token(events=None), "missing_claim"),
        (lambda: logout_token(events={"something-else": {}}), "wrong_token_type"),
        (lambda: logout_token(nonce="n-1"), "wrong_token_type"),
        (lambda: logout_token(aud="https://elsewhere.test"), "wrong_audience"),
        (
            lambda: jwt.encode(
                {"sub": "insp-1001", "events": {LOGOUT_EVENT: {}}}, None, algorithm="none"
            ),
            "algorithm_refused",
        ),
        (lambda: hs_token(), "missing_claim"),  # a login token is not a logout token
        (lambda: None, "token_malformed"),
    ],
    ids=[
        "bad-signature",
        "no-events",
        "other-event",
        "nonce",
        "wrong-aud",
        "alg-none",
        "login-token",
        "missing",
    ],
)
def test_bad_logout_requests_are_refused_and_change_nothing(client, token, code):
    sso_login(client)
    value = token()
    response = client.post(
        "/sso/insp/backchannel-logout", data={"logout_token": value} if value else {}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert client.get("/api/auth/me").status_code == 200
    assert db.session.execute(db.select(User.tokens_valid_after)).scalar_one() is None


def test_logout_tokens_cannot_sign_in_and_cannot_be_replayed(client):
    sso_login(client)
    token = logout_token()
    page = client.get(
        "/sso/insp/login", query_string={"token": token}, headers={"Accept": "text/html"}
    )
    assert page.status_code == 401
    assert "(missing_claim)" in page.get_data(as_text=True)  # no email/name/role in a logout token
    assert (
        client.post("/sso/insp/backchannel-logout", data={"logout_token": token}).status_code == 200
    )
    again = client.post("/sso/insp/backchannel-logout", data={"logout_token": token})
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "token_replayed"


def test_logout_for_an_unknown_subject_is_accepted(client):
    response = client.post(
        "/sso/insp/backchannel-logout", data={"logout_token": logout_token(sub="nobody")}
    )
    assert response.status_code == 200 and response.get_json() == {"logged_out": False}


def test_link_sends_the_user_back_to_insp_with_a_short_lived_token(client):
    user = sso_login(client)
    response = client.get("/sso/insp/link", query_string={"next": "/courses/42"})
    assert response.status_code == 302
    assert response.headers["Referrer-Policy"] == "no-referrer"
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == LINK_URL
    query = parse_qs(target.query)
    assert query["next"] == ["/courses/42"]
    claims = jwt.decode(
        query["token"][0], SECRET, algorithms=["HS256"], audience=ISSUER, issuer=AUDIENCE
    )
    assert claims["sub"] == "insp-1001"
    assert claims["email"] == user["email"] and claims["role"] == "student"
    assert claims["portal_user_id"] == user["id"]
    assert claims["exp"] - claims["iat"] == 60
    assert claims["jti"]
    second = parse_qs(urlsplit(client.get("/sso/insp/link").headers["Location"]).query)
    assert "next" not in second
    assert (
        jwt.decode(second["token"][0], SECRET, algorithms=["HS256"], audience=ISSUER)["jti"]
        != claims["jti"]
    )
    evil = parse_qs(
        urlsplit(
            client.get("/sso/insp/link", query_string={"next": "//evil.test"}).headers["Location"]
        ).query
    )
    assert "next" not in evil


def test_link_needs_a_signed_in_insp_user(client, make_user):
    anonymous = client.get("/sso/insp/link")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=%2Fsso%2Finsp%2Flink"
    local = make_user("teacher")
    client.post("/login", data={"email": local.email, "password": PASSWORD})
    refused = client.get("/sso/insp/link", headers={"Accept": "text/html"})
    assert refused.status_code == 403
    assert "not linked" in refused.get_data(as_text=True)


def test_link_disabled_without_a_link_url(make_sso_app):
    client = make_sso_app(SSO_INSP_LINK_URL=None).test_client()
    sso_login(client)
    assert client.get("/sso/insp/link").status_code == 404


def test_link_can_use_its_own_secret(make_sso_app):
    own = "portal-to-insp-secret-0123456789-abcdefghij"
    client = make_sso_app(SSO_INSP_LINK_SECRET=own).test_client()
    sso_login(client)
    token = parse_qs(urlsplit(client.get("/sso/insp/link").headers["Location"]).query)["token"][0]
    assert jwt.decode(token, own, algorithms=["HS256"], audience=ISSUER)["sub"] == "insp-1001"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience=ISSUER)


def test_purge_job_removes_only_expired_tokens(app, client):
    from portal.tasks import run_job

    client.get("/sso/insp/login", query_string={"token": hs_token()})
    db.session.add_all(
        [
            SsoToken(provider="insp", jti="old-login", expires_at=utcnow() - timedelta(minutes=5)),
            SsoToken(
                provider="insp:logout", jti="old-logout", expires_at=utcnow() - timedelta(seconds=1)
            ),
            SsoToken(provider="insp", jti="fresh", expires_at=utcnow() + timedelta(minutes=5)),
            SsoToken(provider="oidc", jti="not-ours", expires_at=utcnow() - timedelta(days=1)),
        ]
    )
    db.session.commit()
    assert "sso-insp-purge-tokens" in app.extensions["portal.registry"].periodic_jobs
    run_job("sso-insp-purge-tokens")
    left = set(db.session.execute(db.select(SsoToken.jti)).scalars())
    assert len(left) == 3 and {"fresh", "not-ours"} <= left
    assert not left & {"old-login", "old-logout"}


def test_expired_but_kept_jti_still_blocks_replay_within_the_leeway(client):
    now = int(time.time())
    token = hs_token(iat=now - 100, exp=now - 5)  # expired, yet inside the 30 s leeway
    assert client.get("/sso/insp/login", query_string={"token": token}).status_code == 303
    from portal.tasks import run_job

    run_job("sso-insp-purge-tokens")
    assert client.get("/sso/insp/login", query_string={"token": token}).status_code == 401


def cli(app, *args):
    app.extensions["portal.pm"].hook.register_commands(cli=app.cli)
    return app.test_cli_runner().invoke(args=list(args))


def test_make_token_cli_prints_a_working_login_url(app, client):
    result = cli(
        app,
        "sso",
        "make-token",
        "--sub",
        "insp-77",
        "--email",
        "grace@insp-school.eu",
        "--name",
        "Grace Hopper",
        "--role",
        "teacher",
        "--next",
        "/classes/5",
    )
    assert result.exit_code == 0, result.output
    url = urlsplit(result.output.strip())
    assert url.path == "/sso/insp/login"
    response = client.get(url.path + "?" + url.query)
    assert response.status_code == 303 and response.headers["Location"] == "/classes/5"
    me = client.get("/api/auth/me").get_json()
    assert (me["email"], me["role"]) == ("grace@insp-school.eu", "teacher")
    assert client.get(url.path + "?" + url.query).status_code == 401  # single use


def test_make_token_cli_rs256(make_sso_app, tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = rsa_key()
    pem = tmp_path / "insp-private.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    app = make_sso_app(SSO_INSP_HS256_SECRET=None, SSO_INSP_PUBLIC_KEY=public_pem(key))
    result = cli(
        app,
        "sso",
        "make-token",
        "--sub",
        "s1",
        "--email",
        "s1@insp-school.eu",
        "--name",
        "S One",
        "--private-key",
        str(pem),
        "--token-only",
    )
    assert result.exit_code == 0, result.output
    response = app.test_client().get(
        "/sso/insp/login", query_string={"token": result.output.strip()}
    )
    assert response.status_code == 303


def test_make_token_cli_without_secret_explains(make_sso_app):
    app = make_sso_app(SSO_INSP_HS256_SECRET=None)
    result = cli(
        app, "sso", "make-token", "--sub", "s1", "--email", "s1@insp-school.eu", "--name", "S One"
    )
    assert result.exit_code != 0
    assert "HS256_SECRET" in result.output
