"""Whatever a browser or a forger posts to the LTI login initiation and launch endpoints,
the portal answers with a clear 4xx refusal (never a 500) and signs nobody in."""

from __future__ import annotations

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_double import CLIENT_ID, DEPLOYMENT

from portal.core.models import User
from portal.extensions import db

PORTAL = "http://127.0.0.1:5000"
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

login_fields = st.dictionaries(
    st.sampled_from(
        [
            "iss",
            "login_hint",
            "target_link_uri",
            "client_id",
            "lti_deployment_id",
            "lti_message_hint",
        ]
    ),
    st.text(max_size=300),
    max_size=6,
)

claims = st.dictionaries(
    st.sampled_from(
        [
            "aud",
            "sub",
            "nonce",
            "exp",
            "https://purl.imsglobal.org/spec/lti/claim/message_type",
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id",
            "https://purl.imsglobal.org/spec/lti/claim/resource_link",
        ]
    ),
    st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.text(max_size=20))),
    max_size=8,
)


def answered_clearly(client, response) -> None:
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert client.get("/api/auth/me", base_url=PORTAL).status_code == 401
    assert db.session.execute(db.select(User)).first() is None


@FUZZ
@given(fields=login_fields)
def test_login_initiation_with_any_fields_is_refused_clearly(client, registered, fields):
    response = client.post("/lti/login", data=fields, base_url=PORTAL)
    if response.status_code == 302:  # a well-formed initiation for the registered platform
        assert fields.get("iss") == registered.issuer
        return
    answered_clearly(client, response)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["id_token", "state"]), st.text(max_size=300)))
def test_launch_with_any_form_is_refused_clearly(client, registered, fields):
    answered_clearly(client, client.post("/lti/launch", data=fields, base_url=PORTAL))


@FUZZ
@given(body=claims, state=st.text(max_size=40))
def test_launch_with_any_signed_claims_is_refused_clearly(client, registered, body, state):
    """Well-formed JWTs with odd claims, signed by the platform's own key."""
    token = jwt.encode(
        {"aud": CLIENT_ID, "iss": registered.issuer, "deployment_id": DEPLOYMENT, **body},
        registered.key,
        algorithm="RS256",
        headers={"kid": registered.kid},
    )
    response = client.post("/lti/launch", data={"id_token": token, "state": state}, base_url=PORTAL)
    answered_clearly(client, response)
