"""Signing in from insp: what the browser gets, what is stored, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time

import jwt
import pytest
from insp_tokens import (
    AUDIENCE,
    ISSUER,
    LOGIN_URL,
    LOGOUT_URL,
    claims,
    hs_token,
    public_pem,
    rs_token,
    rsa_key,
)
from portal_sso_insp.models import SsoToken
from portal_testing import PASSWORD

from portal.core.models import AuditLog, User, UserIdentity
from portal.extensions import db

HTML = {"Accept": "text/html"}


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()
        for model in (User, UserIdentity, SsoToken)
    )


def me(client):
    return client.get("/api/auth/me")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_refused(response, status: int, code: str, words: str):
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert words in page
    assert f"({code})" in page
    assert "Traceback" not in page
    assert "access_token_cookie" not in response.headers.get("Set-Cookie", "")


def test_hs256_login_creates_the_user_and_starts_a_session(client):
    response = client.get(
        "/sso/insp/login", query_string={"token": hs_token(), "next": "/classes/7?tab=chat"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/classes/7?tab=chat"
    assert response.headers["Cache-Control"] == "no-store"
    body = me(client).get_json()
    assert body["email"] == "ada@insp-school.eu"
    assert body["name"] == "Ada Lovelace"
    assert body["role"] == "student"
    user = db.session.execute(db.select(User)).scalar_one()
    assert user.phone == "+33612345678"
    link = db.session.execute(db.select(UserIdentity)).scalar_one()
    assert (link.provider, link.subject, link.user_id) == ("insp", "insp-1001", user.id)
    used = db.session.execute(db.select(SsoToken)).scalar_one()
    assert used.provider == "insp" and used.user_id == user.id


def test_login_by_form_post(client):
    response = client.post("/sso/insp/login", data={"token": hs_token(), "next": "/classes/3"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/classes/3"
    assert me(client).status_code == 200


def test_rs256_login_with_a_configured_public_key(make_sso_app):
    key = rsa_key()
    app = make_sso_app(SSO_INSP_HS256_SECRET=None, SSO_INSP_PUBLIC_KEY=public_pem(key))
    client = app.test_client()
    response = client.get("/sso/insp/login", query_string={"token": rs_token(key)})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert me(client).get_json()["email"] == "ada@insp-school.eu"


def test_public_key_can_be_a_file(make_sso_app, tmp_path):
    key = rsa_key()
    path = tmp_path / "insp.pem"
    path.write_text(public_pem(key))
    client = make_sso_app(SSO_INSP_PUBLIC_KEY=str(path)).test_client()
    assert client.get("/sso/insp/login", query_string={"token": rs_token(key)}).status_code == 303


def test_small_clock_skew_is_tolerated(client):
    now = int(time.time())
    token = hs_token(iat=now - 100, exp=now - 10)  # expired 10 s ago, leeway is 30 s
    assert client.get("/sso/insp/login", query_string={"token": token}).status_code == 303


@pytest.mark.parametrize(
    ("overrides", "code", "words"),
    [
        # Times are computed when the test runs, not when it is collected: a long suite would
        # otherwise turn "in five minutes" into the past.
        (lambda now: {"exp": now - 120, "iat": now - 200}, "token_expired", "expired"),
        (lambda now: {"nbf": now + 300}, "token_not_yet_valid", "not valid yet"),
        (lambda now: {"iat": now + 300, "exp": now + 400}, "token_not_yet_valid", "not valid yet"),
        (lambda now: {"aud": "https://other-portal.test"}, "wrong_audience", "another site"),
        (lambda now: {"iss": "https://evil.test"}, "wrong_issuer", "unknown issuer"),
        (lambda now: {"exp": now + 86_400}, "token_lifetime", "too long"),
        (lambda now: {"email": "  "}, "claim_invalid", "email"),
        (lambda now: {"sub": 1001}, "token_invalid", "invalid"),
    ],
    ids=[
        "expired",
        "nbf-future",
        "iat-future",
        "wrong-aud",
        "wrong-iss",
        "too-long",
        "blank-email",
        "int-sub",
    ],
)
def test_invalid_tokens_show_a_clear_page_and_write_nothing(client, overrides, code, words):
    token = hs_token(**overrides(int(time.time())))
    response = client.get("/sso/insp/login", query_string={"token": token}, headers=HTML)
    assert_refused(response, 401, code, words)
    assert counts() == (0, 0, 0)
    assert me(client).status_code == 401


@pytest.mark.parametrize(
    "claim", ["sub", "email", "name", "role", "jti", "exp", "iat", "iss", "aud"]
)
def test_missing_required_claims_are_refused(client, claim):
    response = client.get(
        "/sso/insp/login", query_string={"token": hs_token(**{claim: None})}, headers=HTML
    )
    assert_refused(response, 401, "missing_claim", claim)
    assert counts() == (0, 0, 0)


def test_phone_is_optional(client):
    assert (
        client.get("/sso/insp/login", query_string={"token": hs_token(phone=None)}).status_code
        == 303
    )
    assert db.session.execute(db.select(User.phone)).scalar_one() is None


def test_replayed_jti_is_refused(client):
    token = hs_token()
    assert client.get("/sso/insp/login", query_string={"token": token}).status_code == 303
    client.delete_cookie("access_token_cookie")
    again = client.get("/sso/insp/login", query_string={"token": token}, headers=HTML)
    assert_refused(again, 401, "token_replayed", "already been used")
    assert counts() == (1, 1, 1)
    # Replaying by POST does not help either.
    assert client.post("/sso/insp/login", data={"token": token}).status_code == 401


def test_tampered_signature_is_refused(client):
    header, payload, signature = hs_token().split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["role"] = "teacher"
    tampered = ".".join([header, b64(json.dumps(forged).encode()), signature])
    assert_refused(
        client.get("/sso/insp/login", query_string={"token": tampered}, headers=HTML),
        401,
        "bad_signature",
        "signature is wrong",
    )
    other_secret = hs_token(key="not-the-shared-secret-0123456789-abcdefghij")
    assert_refused(
        client.get("/sso/insp/login", query_string={"token": other_secret}, headers=HTML),
        401,
        "bad_signature",
        "signature is wrong",
    )
    assert counts() == (0, 0, 0)


def test_alg_none_is_refused(client):
    unsigned = jwt.encode(claims(role="admin"), None, algorithm="none")
    assert_refused(
        client.get("/sso/insp/login", query_string={"token": unsigned}, headers=HTML),
        401,
        "algorithm_refused",
        "does not accept",
    )
    assert counts() == (0, 0, 0)


def hs256_with_raw_key(payload: dict, key: bytes) -> str:
    """HS256 signed with arbitrary bytes (PyJWT refuses PEM keys as HMAC secrets, attackers do
    not)."""
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(payload).encode())
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def test_hs_rs_key_confusion_is_refused(make_sso_app):
    key = rsa_key()
    pem = public_pem(key)
    # RS256-only portal: an HS256 token "signed" with the public key is not even considered.
    client = make_sso_app(SSO_INSP_HS256_SECRET=None, SSO_INSP_PUBLIC_KEY=pem).test_client()
    forged = hs256_with_raw_key(claims(), pem.encode())
    assert_refused(
        client.get("/sso/insp/login", query_string={"token": forged}, headers=HTML),
        401,
        "algorithm_refused",
        "does not accept",
    )
    # Even with an allow-list naming HS256, the HMAC key is never the public key.
    client = make_sso_app(
        SSO_INSP_HS256_SECRET=None, SSO_INSP_PUBLIC_KEY=pem, SSO_INSP_ALGORITHMS="HS256,RS256"
    ).test_client()
    assert_refused(
        client.get("/sso/insp/login", query_string={"token": forged}, headers=HTML),
        401,
        "algorithm_refused",
        "does not accept",
    )
    assert counts() == (0, 0, 0)


def test_garbage_and_missing_tokens(client):
    assert_refused(
        client.get("/sso/insp/login", query_string={"token": "not-a-jwt"}, headers=HTML),
        401,
        "token_malformed",
        "not a valid JWT",
    )
    assert_refused(
        client.get("/sso/insp/login", headers=HTML), 400, "token_missing", "no sign-in token"
    )


def test_api_clients_get_json_errors(client):
    response = client.get(
        "/sso/insp/login",
        query_string={"token": hs_token(aud="x")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "wrong_audience"


def test_second_login_updates_profile_and_role(client):
    assert client.get("/sso/insp/login", query_string={"token": hs_token()}).status_code == 303
    first = me(client).get_json()
    token = hs_token(
        role="teacher", name="Ada King", email="ada.king@insp-school.eu", phone="+447700900123"
    )
    assert client.get("/sso/insp/login", query_string={"token": token}).status_code == 303
    second = me(client).get_json()
    assert second["id"] == first["id"]
    assert (second["role"], second["name"], second["email"]) == (
        "teacher",
        "Ada King",
        "ada.king@insp-school.eu",
    )
    assert counts()[:2] == (1, 1)
    change = db.session.execute(db.select(AuditLog).filter_by(action="user.role")).scalar_one()
    assert change.details["before"] == "student" and change.details["after"] == "teacher"


def test_configurable_role_mapping(make_sso_app):
    client = make_sso_app(SSO_INSP_ROLE_MAP="pupil=student,staff=teacher,head=admin").test_client()
    assert (
        client.get("/sso/insp/login", query_string={"token": hs_token(role="staff")}).status_code
        == 303
    )
    assert me(client).get_json()["role"] == "teacher"
    assert (
        client.get("/sso/insp/login", query_string={"token": hs_token(role="head")}).status_code
        == 303
    )
    assert me(client).get_json()["role"] == "admin"


def test_roles_without_mapping_are_refused(client):
    # By default an insp "admin" is not made a portal administrator.
    for role in ("janitor", "admin"):
        response = client.get(
            "/sso/insp/login", query_string={"token": hs_token(role=role)}, headers=HTML
        )
        assert_refused(response, 403, "role_not_mapped", "gives no access")
    assert counts() == (0, 0, 0)


def test_never_links_an_existing_account_by_email(client, make_user):
    owner = make_user("teacher", email="ada@insp-school.eu")
    response = client.get("/sso/insp/login", query_string={"token": hs_token()}, headers=HTML)
    assert_refused(response, 409, "identity_conflict", "not linked")
    assert counts() == (1, 0, 0)
    assert db.session.get(User, owner.id).role == "teacher"


def test_same_subject_is_the_same_user_even_with_a_new_email(client):
    client.get("/sso/insp/login", query_string={"token": hs_token(email="a@insp-school.eu")})
    client.get("/sso/insp/login", query_string={"token": hs_token(email="b@insp-school.eu")})
    client.get(
        "/sso/insp/login",
        query_string={"token": hs_token(sub="insp-2002", email="c@insp-school.eu")},
    )
    assert counts()[:2] == (2, 2)


def test_disabled_accounts_cannot_sign_in(client):
    client.get("/sso/insp/login", query_string={"token": hs_token()})
    db.session.execute(db.update(User).values(is_active=False))
    db.session.commit()
    fresh = client.application.test_client()
    response = fresh.get("/sso/insp/login", query_string={"token": hs_token()}, headers=HTML)
    assert_refused(response, 401, "account_disabled", "disabled")
    assert counts()[2] == 1  # the refused token's jti was not stored


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test/phish",
        "//evil.test/phish",
        "/\\evil.test",
        "\\\\evil.test",
        "/\t/evil.test",
        "/%0a/evil.test".replace("%0a", "\n"),
        "javascript:alert(1)",
        "http:/evil.test",
        "evil.test/path",
        " /classes/1",
        "",
    ],
)
def test_open_redirect_attempts_land_on_the_start_page(client, target):
    response = client.get("/sso/insp/login", query_string={"token": hs_token(), "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_login_page_offers_insp_and_keeps_next(client):
    page = client.get("/login", query_string={"next": "/classes/9"}).get_data(as_text=True)
    assert "Sign in with insp" in page
    assert f"{LOGIN_URL}?next=%2Fclasses%2F9" in page
    evil = client.get("/login", query_string={"next": "//evil.test"}).get_data(as_text=True)
    assert f'href="{LOGIN_URL}"' in evil


def test_portal_logout_continues_to_insp_logout(client):
    client.get("/sso/insp/login", query_string={"token": hs_token()})
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URL
    assert me(client).status_code == 401


def test_password_login_uses_the_same_session_and_plain_logout(client, make_user):
    user = make_user("teacher")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert me(client).get_json()["id"] == user.id
    out = client.post("/logout")
    assert out.headers["Location"] == "/login"
    assert me(client).status_code == 401


def test_logout_revokes_the_session_token(client):
    client.get("/sso/insp/login", query_string={"token": hs_token()})
    stolen = client.get_cookie("access_token_cookie").value
    client.post("/logout")
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {stolen}"})
    assert response.status_code == 401


def test_unconfigured_portal_says_so(make_sso_app):
    client = make_sso_app(SSO_INSP_ISSUER=None).test_client()
    response = client.get("/sso/insp/login", query_string={"token": hs_token()}, headers=HTML)
    assert_refused(response, 503, "sso_not_configured", "not set up")
    assert "Sign in with insp" not in client.get("/login").get_data(as_text=True)


def test_audience_defaults_to_the_portal_base_url(make_sso_app):
    client = make_sso_app(
        SSO_INSP_AUDIENCE=None, BASE_URL="https://classes.school.test/"
    ).test_client()
    ok = client.get(
        "/sso/insp/login", query_string={"token": hs_token(aud="https://classes.school.test")}
    )
    assert ok.status_code == 303
    assert ISSUER and AUDIENCE  # the constants the other tests sign with


def test_concurrent_uses_of_one_token_let_exactly_one_through(app):
    import threading

    token = hs_token()
    barrier = threading.Barrier(6, timeout=30)
    statuses = []

    def attempt():
        client = app.test_client()
        barrier.wait()
        statuses.append(client.get("/sso/insp/login", query_string={"token": token}).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [303, 401, 401, 401, 401, 401]
    assert counts() == (1, 1, 1)


def test_overlong_names_are_refused_cleanly(client):
    response = client.get(
        "/sso/insp/login", query_string={"token": hs_token(name="A" * 201)}, headers=HTML
    )
    assert_refused(response, 401, "claim_invalid", "at most 200 characters")
    assert counts() == (0, 0, 0)


def test_a_broken_role_map_keeps_the_sign_in_page_working(make_sso_app):
    client = make_sso_app(SSO_INSP_ROLE_MAP="pupil=superuser").test_client()
    page = client.get("/login")
    assert page.status_code == 200 and "Sign in with insp" not in page.get_data(as_text=True)
    response = client.get("/sso/insp/login", query_string={"token": hs_token()}, headers=HTML)
    assert_refused(response, 503, "sso_misconfigured", "unknown portal roles")


def test_numeric_secret_from_the_environment(make_sso_app, monkeypatch):
    monkeypatch.setenv("PORTAL_SSO_INSP_HS256_SECRET", "12345678901234567890123456789012345")
    client = make_sso_app(SSO_INSP_HS256_SECRET=None).test_client()
    token = hs_token(key="12345678901234567890123456789012345")
    assert client.get("/sso/insp/login", query_string={"token": token}).status_code == 303


def test_csp_lets_the_logout_form_continue_to_insp(client):
    csp = client.get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self' https://insp.school.test;" in csp + ";"


def test_a_refused_algorithm_is_named_in_the_french_and_arabic_page(client):
    """The algorithm sits inside one sentence of the reader's language; the code is the same."""
    unsigned = jwt.encode(claims(role="admin"), None, algorithm="none")
    for language, words in {
        "fr": "le jeton de connexion utilise l'algorithme « none », que ce portail n'accepte pas",
        "ar": "يستخدم رمز تسجيل الدخول الخوارزمية 'none' التي لا تقبلها هذه البوابة",
    }.items():
        response = client.get(
            "/sso/insp/login",
            query_string={"token": unsigned},
            headers={**HTML, "Accept-Language": language},
        )
        assert response.status_code == 401
        page = html.unescape(response.get_data(as_text=True))
        assert words in page and "(algorithm_refused)" in page
    assert counts() == (0, 0, 0)
