"""RS256 tokens verified against insp's JWK Set served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from insp_tokens import hs_token, rs_token, rsa_key

from portal.core.models import User
from portal.extensions import db

HTML = {"Accept": "text/html"}


def jwks_app(make_sso_app, server, **overrides):
    config = {
        "SSO_INSP_HS256_SECRET": None,
        "SSO_INSP_JWKS_URL": server.url,
        "SSO_INSP_JWKS_REFRESH_COOLDOWN_SECONDS": 0,
    }
    return make_sso_app(**{**config, **overrides})


def login(client, token):
    return client.get("/sso/insp/login", query_string={"token": token}, headers=HTML)


def test_rs256_login_with_jwks_and_cached_keys(make_sso_app, jwks_server):
    k1 = rsa_key()
    jwks_server.publish(k1=k1)
    client = jwks_app(make_sso_app, jwks_server).test_client()
    assert login(client, rs_token(k1, kid="k1")).status_code == 303
    assert client.get("/api/auth/me").get_json()["email"] == "ada@insp-school.eu"
    assert (
        login(client, rs_token(k1, kid="k1", sub="insp-2", email="b@insp-school.eu")).status_code
        == 303
    )
    assert jwks_server.fetches == 1  # the key set is cached between logins
    # HS256 is not accepted on an RS256-only portal, whatever the secret.
    response = login(client, hs_token())
    assert response.status_code == 401 and "(algorithm_refused)" in response.get_data(as_text=True)


def test_key_rotation_by_kid(make_sso_app, jwks_server):
    old, new = rsa_key(), rsa_key()
    jwks_server.publish(old=old)
    client = jwks_app(make_sso_app, jwks_server).test_client()
    assert login(client, rs_token(old, kid="old")).status_code == 303
    # insp rotates: the new key appears, tokens name it by kid; the portal re-fetches once.
    jwks_server.publish(old=old, new=new)
    assert login(client, rs_token(new, kid="new")).status_code == 303
    assert jwks_server.fetches == 2
    assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == 1


def test_unknown_kid_and_wrong_key_are_refused(make_sso_app, jwks_server):
    published, stranger = rsa_key(), rsa_key()
    jwks_server.publish(k1=published)
    client = jwks_app(make_sso_app, jwks_server).test_client()
    unknown = login(client, rs_token(stranger, kid="k9"))
    assert unknown.status_code == 401 and "(unknown_key)" in unknown.get_data(as_text=True)
    # A token claiming the published kid but signed by another key.
    forged = login(client, rs_token(stranger, kid="k1"))
    assert forged.status_code == 401 and "(bad_signature)" in forged.get_data(as_text=True)
    no_kid = login(client, rs_token(published))
    assert no_kid.status_code == 401 and "(unknown_key)" in no_kid.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == 0


def test_refetch_cooldown_limits_requests_for_unknown_kids(make_sso_app, jwks_server):
    k1 = rsa_key()
    jwks_server.publish(k1=k1)
    client = jwks_app(
        make_sso_app, jwks_server, SSO_INSP_JWKS_REFRESH_COOLDOWN_SECONDS=3600
    ).test_client()
    assert login(client, rs_token(k1, kid="k1")).status_code == 303
    for n in range(5):
        assert login(client, rs_token(rsa_key(), kid=f"random-{n}")).status_code == 401
    assert jwks_server.fetches == 1


def test_unreachable_key_server_is_a_503_page(make_sso_app, jwks_server):
    k1 = rsa_key()
    url = jwks_server.url
    jwks_server.stop()
    client = make_sso_app(
        SSO_INSP_HS256_SECRET=None, SSO_INSP_JWKS_URL=url, SSO_INSP_JWKS_TIMEOUT_SECONDS=2
    ).test_client()
    response = login(client, rs_token(k1, kid="k1"))
    assert response.status_code == 503
    assert "(sso_keys_unavailable)" in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == 0
