"""Sign-in with the school's OpenID provider (a real oidc-provider on 127.0.0.1): what the
person sees, which account they get, and every refusal reading clearly with nothing written."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

import pytest
from openid_provider import sign_in_at_provider
from portal_sso_oidc import protocol
from portal_sso_oidc.settings import load_settings
from portal_sso_oidc.views import LOGIN_COOKIE
from portal_testing import PASSWORD

from portal.core.models import User, UserIdentity
from portal.extensions import db

PORTAL = "http://127.0.0.1:5000"


@pytest.fixture
def client(app):
    # The redirect URI the provider knows is on 127.0.0.1 (any port, RFC 8252 loopback).
    return app.test_client()


def get(client, path, **kwargs):
    return client.get(path, base_url=PORTAL, **kwargs)


def start(client, next_path=None):
    response = get(client, "/sso/oidc/login", query_string={"next": next_path} if next_path else {})
    assert response.status_code == 302
    return response.headers["Location"]


def callback_path(url):
    parts = urlsplit(url)
    return parts.path + "?" + parts.query


def sign_in(client, login, next_path=None):
    """The whole journey; returns the portal's answer to the provider's redirect."""
    back = sign_in_at_provider(start(client, next_path), login)
    return get(client, callback_path(back))


def me(client):
    return get(client, "/api/auth/me")


def users():
    return db.session.execute(db.select(User).order_by(User.id)).scalars().all()


def test_login_page_offers_the_school_identity_provider(client):
    page = get(client, "/login", query_string={"next": "/classes"}).get_data(as_text=True)
    assert "Sign in with Springfield School" in page
    assert "/sso/oidc/login?next=%2Fclasses" in page


def test_authorization_request_uses_pkce_nonce_and_state(client, openid_provider):
    query = parse_qs(urlsplit(start(client)).query)
    assert urlsplit(start(client)).netloc == urlsplit(openid_provider.issuer).netloc
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["redirect_uri"] == [PORTAL + "/sso/oidc/callback"]
    assert set(query["scope"][0].split()) >= {"openid", "email"}


def test_teacher_signs_in_and_lands_where_they_were_going(client, openid_provider):
    response = sign_in(client, "ann.teacher", next_path="/classes")
    assert response.status_code == 303, response.get_data(as_text=True)[-600:]
    assert response.headers["Location"] == "/classes"
    body = me(client).get_json()
    assert body["email"] == "ann@springfield.school" and body["role"] == "teacher"
    link = db.session.execute(db.select(UserIdentity)).scalar_one()
    # Linked by (issuer, sub), the pair that identifies a person in OpenID Connect.
    assert (link.provider, link.subject) == ("oidc", f"{openid_provider.issuer} ann.teacher")


@pytest.mark.parametrize(("login", "role"), [("sam.student", "student"), ("ida.admin", "admin")])
def test_groups_map_to_portal_roles(client, login, role):
    assert sign_in(client, login).status_code == 303
    assert me(client).get_json()["role"] == role


def test_unmapped_groups_get_the_default_role(make_oidc_app):
    app = make_oidc_app(SSO_OIDC_ROLE_MAP='{"nobody": "admin"}')
    client = app.test_client()
    assert sign_in(client, "ann.teacher").status_code == 303
    assert me(client).get_json()["role"] == "student"


def test_second_sign_in_is_the_same_account(client):
    sign_in(client, "ann.teacher")
    first = me(client).get_json()["id"]
    client.post("/logout", base_url=PORTAL)
    sign_in(client, "ann.teacher")
    assert me(client).get_json()["id"] == first
    assert len(users()) == 1


def test_wrong_state_is_refused_and_creates_nobody(client):
    back = sign_in_at_provider(start(client), "ann.teacher")
    forged = back.replace("state=", "state=x", 1)
    response = get(client, callback_path(forged), headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "oidc_state_invalid"
    assert users() == []
    assert me(client).status_code == 401


def test_answer_in_another_browser_is_refused(app, client):
    back = sign_in_at_provider(start(client), "ann.teacher")
    other_browser = app.test_client()
    response = get(other_browser, callback_path(back))
    assert response.status_code == 400
    assert "start it again from the sign-in page" in response.get_data(as_text=True)
    assert users() == []


def test_replayed_code_is_refused_by_the_provider(client):
    back = sign_in_at_provider(start(client), "ann.teacher")
    pending = client.get_cookie(LOGIN_COOKIE, domain="127.0.0.1", path="/sso/oidc").value
    assert get(client, callback_path(back)).status_code == 303
    client.post("/logout", base_url=PORTAL)
    # An attacker replays the same redirect, even with the browser's login cookie restored.
    client.set_cookie(LOGIN_COOKIE, pending, path="/sso/oidc", domain="127.0.0.1")
    replay = get(client, callback_path(back), headers={"Accept": "application/json"})
    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "oidc_code_rejected"
    assert me(client).status_code == 401


def test_code_without_the_pkce_verifier_is_useless(app, client):
    back = sign_in_at_provider(start(client), "ann.teacher")
    code = parse_qs(urlsplit(back).query)["code"][0]
    pending = protocol.LoginRequest(
        state="s", nonce="n", code_verifier="a-verifier-the-attacker-made-up-" * 2, next_path="/"
    )
    with (
        app.test_request_context(base_url=PORTAL),
        pytest.raises(protocol.NotAuthenticated) as refused,
    ):
        protocol.complete(load_settings(), PORTAL + "/sso/oidc/callback", pending, code)
    assert refused.value.code == "oidc_code_rejected"


def test_forged_id_token_is_refused(app, openid_provider):
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    with app.test_request_context(base_url=PORTAL):
        settings = load_settings()
        meta = protocol.metadata(settings)
        real = protocol._keys(settings, meta)
        forger = RSAKey.generate_key(2048, parameters={"kid": real.keys[0].kid})
        claims = {
            "iss": meta.issuer,
            "aud": settings.client_id,
            "sub": "ann.teacher",
            "nonce": "n",
            "iat": int(__import__("time").time()),
            "exp": int(__import__("time").time()) + 300,
        }
        forged = jwt.encode({"alg": "RS256", "kid": forger.kid}, claims, forger)
        with pytest.raises(protocol.NotAuthenticated) as refused:
            protocol.verify_id_token(settings, meta, forged, "n")
    assert "bad signature" in refused.value.message


def test_id_token_for_another_application_or_old_nonce_is_refused(app):
    """The claim checks after the signature (Core 3.1.3.7), on a token the provider signed."""
    with app.test_request_context(base_url=PORTAL):
        settings = load_settings()
        meta = protocol.metadata(settings)
    client = app.test_client()
    back = sign_in_at_provider(start(client), "ann.teacher")
    pending = client.get_cookie(LOGIN_COOKIE, domain="127.0.0.1", path="/sso/oidc").value
    with app.test_request_context(base_url=PORTAL):
        from portal_sso_oidc.views import _serializer

        login = protocol.LoginRequest(**_serializer().loads(pending))
        code = parse_qs(urlsplit(back).query)["code"][0]
        session = protocol._client(settings, meta, PORTAL + "/sso/oidc/callback")
        token = session.fetch_token(
            meta.token_endpoint, code=code, code_verifier=login.code_verifier, timeout=10
        )
        assert protocol.verify_id_token(settings, meta, token["id_token"], login.nonce)["sub"]
        with pytest.raises(protocol.NotAuthenticated, match="nonce mismatch"):
            protocol.verify_id_token(settings, meta, token["id_token"], "another-nonce")
        other_app = dataclasses.replace(settings, client_id="someone-else")
        with pytest.raises(protocol.NotAuthenticated, match="another application"):
            protocol.verify_id_token(other_app, meta, token["id_token"], login.nonce)
        wrong_issuer = dataclasses.replace(meta, issuer="https://evil.test")
        with pytest.raises(protocol.NotAuthenticated, match="wrong issuer"):
            protocol.verify_id_token(settings, wrong_issuer, token["id_token"], login.nonce)


def test_provider_without_an_email_claim_reads_clearly(client):
    response = sign_in(client, "noemail")
    assert response.status_code == 401
    assert "did not share your email address" in response.get_data(as_text=True)
    assert users() == []


def test_existing_account_with_the_same_email_is_never_taken_over(client, make_user):
    make_user("teacher", email="ann@springfield.school")
    response = sign_in(client, "ann.teacher")
    assert response.status_code == 409
    assert "not linked to this sign-in" in response.get_data(as_text=True)
    assert db.session.execute(db.select(UserIdentity)).first() is None
    assert client.post("/login", data={"email": "ann@springfield.school", "password": PASSWORD})


def test_person_who_refuses_at_the_provider_sees_why(client):
    start(client)
    response = get(
        client,
        "/sso/oidc/callback",
        query_string={"error": "access_denied", "error_description": "End-User aborted"},
    )
    assert response.status_code == 401
    assert "did not sign you in: End-User aborted" in response.get_data(as_text=True)


def test_unreachable_provider_gets_a_clear_message(make_oidc_app):
    app = make_oidc_app(
        SSO_OIDC_DISCOVERY_URL="http://127.0.0.1:9/.well-known/openid-configuration",
        SSO_OIDC_TIMEOUT_SECONDS=2,
    )
    client = app.test_client()
    assert "Sign in with Springfield School" in get(client, "/login").get_data(as_text=True)
    response = get(client, "/sso/oidc/login")
    assert response.status_code == 503
    assert "is not reachable right now" in response.get_data(as_text=True)


def test_logout_continues_to_the_provider_and_back(client, openid_provider):
    import requests

    sign_in(client, "ann.teacher")
    out = client.post("/logout", base_url=PORTAL)
    assert out.status_code == 302
    location = out.headers["Location"]
    assert location.startswith(openid_provider.issuer + "/session/end")
    assert me(client).status_code == 401
    # At the provider: its "sign out?" confirmation, then back to the portal's login page.
    browser = requests.Session()
    confirm = browser.get(location, timeout=10)
    assert confirm.status_code == 200
    from openid_provider import _form

    action, fields = _form(confirm.text)
    fields["logout"] = "yes"
    done = browser.post(
        requests.compat.urljoin(location, action), data=fields, allow_redirects=False
    )
    assert done.status_code in (302, 303)
    assert done.headers["Location"] == PORTAL + "/login"


def test_a_refusal_at_the_provider_is_explained_in_french_with_the_providers_words(client):
    """The provider's name and its own reason sit inside one French sentence; same code."""
    start(client)
    response = get(
        client,
        "/sso/oidc/callback",
        query_string={"error": "access_denied", "error_description": "End-User aborted"},
        headers={"Accept": "application/json", "Accept-Language": "fr"},
    )
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "oidc_denied"
    assert error["message"] == "Springfield School ne vous a pas connecté : End-User aborted"


def test_logout_is_local_when_the_provider_has_no_end_session_endpoint(client, monkeypatch):
    """A provider without RP-Initiated Logout (no end_session_endpoint in its discovery
    document): signing out ends the portal's session and stays on the portal."""
    sign_in(client, "ann.teacher")
    real = protocol.metadata

    def without_logout(settings):
        return dataclasses.replace(real(settings), end_session_endpoint=None)

    monkeypatch.setattr(protocol, "metadata", without_logout)
    out = client.post("/logout", base_url=PORTAL)
    assert out.status_code == 302
    assert out.headers["Location"] == "/login"
    assert me(client).status_code == 401
