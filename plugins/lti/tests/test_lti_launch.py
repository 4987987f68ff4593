"""LTI 1.3 launches from an LMS double: who lands where, and every check of the 1EdTech
Security Framework refusing a bad launch clearly, with nobody signed in."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from platform_double import CLIENT_ID, DEPLOYMENT, at_platform, new_person, other_key

from portal.core.models import Enrolment, User, UserIdentity
from portal.extensions import db

PORTAL = "http://127.0.0.1:5000"


def login_initiation(client, platform, person, **extra):
    data = {
        "iss": platform.issuer,
        "login_hint": person,
        "target_link_uri": PORTAL + "/lti/launch",
        "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT,
        **extra,
    }
    return client.post("/lti/login", data=data, base_url=PORTAL)


def launch(client, platform, person, **claims):
    """The whole launch as a browser does it; returns the portal's answer to the POST."""
    platform.next_launch = claims
    started = login_initiation(client, platform, person)
    assert started.status_code == 302, started.get_data(as_text=True)
    action, fields = at_platform(started.headers["Location"])
    assert action == PORTAL + "/lti/launch"
    return client.post("/lti/launch", data=fields, base_url=PORTAL), fields


def me(client):
    return client.get("/api/auth/me", base_url=PORTAL)


def refused(response, status, words):
    assert response.status_code == status, response.get_data(as_text=True)
    assert words in response.get_data(as_text=True)


def nobody_signed_in(client):
    assert me(client).status_code == 401
    assert db.session.execute(db.select(User)).first() is None


def test_login_initiation_sends_a_proper_authentication_request(client, registered):
    person = new_person(registered, "student")
    started = login_initiation(client, registered, person, lti_message_hint="hint-9")
    assert started.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["Location"]).query).items()}
    assert query["scope"] == "openid" and query["response_type"] == "id_token"
    assert query["response_mode"] == "form_post" and query["prompt"] == "none"
    assert query["client_id"] == CLIENT_ID and query["login_hint"] == person
    assert query["redirect_uri"] == PORTAL + "/lti/launch"
    assert query["lti_message_hint"] == "hint-9"
    assert len(query["nonce"]) >= 16 and query["state"]


def test_unknown_platform_cannot_start_a_launch(client, platform):
    response = login_initiation(client, platform, "someone")
    refused(response, 400, "must register the platform")


def test_instructor_first_launch_sets_up_a_new_class_then_lands_in_it(client, registered):
    teacher = new_person(registered, "teacher")
    response, _ = launch(client, registered, teacher)
    assert response.status_code == 303
    setup_url = response.headers["Location"]
    assert setup_url.startswith("/lti/setup?launch=")
    assert me(client).get_json()["role"] == "teacher"
    page = client.get(setup_url, base_url=PORTAL).get_data(as_text=True)
    assert "Set up “Weekly maths class”" in page and "Maths 7B" in page
    launch_id = parse_qs(urlsplit(setup_url).query)["launch"][0]
    done = client.post("/lti/setup", data={"launch": launch_id, "class_id": "new"}, base_url=PORTAL)
    assert done.status_code == 303
    class_page = done.headers["Location"]
    assert client.get(class_page, base_url=PORTAL).status_code == 200
    # The next launch of the same activity opens the class directly.
    again, _ = launch(client, registered, teacher)
    assert again.headers["Location"] == class_page
    link = db.session.execute(db.select(UserIdentity)).scalar_one()
    assert link.subject == f"{registered.issuer} {teacher}"


def test_learner_launch_enrols_them_in_the_linked_class(app, registered):
    teacher_browser, student_browser = app.test_client(), app.test_client()
    teacher = new_person(registered, "teacher")
    response, _ = launch(teacher_browser, registered, teacher)
    launch_id = parse_qs(urlsplit(response.headers["Location"]).query)["launch"][0]
    class_page = teacher_browser.post(
        "/lti/setup", data={"launch": launch_id, "class_id": "new"}, base_url=PORTAL
    ).headers["Location"]
    student = new_person(registered, "student")
    landed, _ = launch(student_browser, registered, student)
    assert landed.status_code == 303 and landed.headers["Location"] == class_page
    assert me(student_browser).get_json()["role"] == "student"
    assert client_sees(student_browser, class_page) == 200
    assert db.session.execute(db.select(Enrolment)).scalar_one().user.email == (
        f"{student}@lms.school"
    )


def client_sees(client, path):
    return client.get(path, base_url=PORTAL).status_code


def test_learner_before_the_teacher_set_it_up_reads_why(client, registered):
    response, _ = launch(client, registered, new_person(registered, "student"))
    assert response.headers["Location"] == "/lti/not-ready"
    page = client.get("/lti/not-ready", base_url=PORTAL).get_data(as_text=True)
    assert "not linked this activity to a class" in page


def test_forged_signature_is_refused(client, registered):
    response, _ = launch(
        client, registered, new_person(registered, "teacher"), signing_key=other_key()
    )
    refused(response, 401, "could not be verified")
    nobody_signed_in(client)


def test_replayed_id_token_is_refused_even_with_the_browsers_cookies(client, registered):
    person = new_person(registered, "student")
    first, fields = launch(client, registered, person)
    assert first.status_code == 303
    client.post("/logout", base_url=PORTAL)
    replay = client.post("/lti/launch", data=fields, base_url=PORTAL)
    refused(replay, 401, "Invalid Nonce")
    assert me(client).status_code == 401


def test_wrong_deployment_is_refused(client, registered):
    person = new_person(registered, "teacher")
    response, _ = launch(
        client,
        registered,
        person,
        **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "someone-elses-deployment"},
    )
    refused(response, 401, "Unable to find deployment")
    nobody_signed_in(client)


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"aud": "another-tool"}, "could not be verified"),
        ({"aud": [CLIENT_ID, "another-tool"], "azp": "another-tool"}, "authorized for another"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, "expired"),
        ({"iss": "https://evil.example"}, "could not be verified"),
        ({"https://purl.imsglobal.org/spec/lti/claim/version": "1.1"}, "could not be verified"),
        ({"https://purl.imsglobal.org/spec/lti/claim/message_type": None}, "message type"),
    ],
    ids=["wrong-audience", "wrong-azp", "expired", "wrong-issuer", "wrong-version", "no-type"],
)
def test_bad_id_tokens_are_refused(client, registered, claims, words):
    response, _ = launch(client, registered, new_person(registered, "teacher"), **claims)
    refused(response, 401, words)
    nobody_signed_in(client)


def test_launch_without_an_email_reads_clearly(client, registered):
    response, _ = launch(client, registered, new_person(registered, "student"), email=None)
    refused(response, 401, "did not share your email address")


def test_only_the_launching_teacher_may_use_the_setup_link(app, registered):
    teacher_browser, other_browser = app.test_client(), app.test_client()
    response, _ = launch(teacher_browser, registered, new_person(registered, "teacher"))
    setup_url = response.headers["Location"]
    launch(other_browser, registered, new_person(registered, "teacher"))
    refused(other_browser.get(setup_url, base_url=PORTAL), 403, "only the teacher who opened")


def test_tool_jwks_publishes_the_signing_key(client, registered):
    keys = client.get("/lti/jwks", base_url=PORTAL).get_json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
    assert "d" not in keys[0]  # never the private part


def test_the_tool_s_private_key_is_stored_encrypted_and_still_signs(client, registered):
    """A dump of the database holds no usable signing key; the published key set and the
    launches keep working from the decrypted key."""
    from portal_lti.models import LtiToolKey
    from portal_lti.tool import private_pem, signing_key

    published = client.get("/lti/jwks").get_json()["keys"]
    stored = db.session.execute(db.select(LtiToolKey)).scalars().all()
    assert stored and all("PRIVATE KEY" not in row.private_pem for row in stored)
    assert "BEGIN PRIVATE KEY" in private_pem(signing_key())
    assert [key["kid"] for key in published] == [row.kid for row in stored]


def test_a_key_stored_in_plaintext_by_an_older_install_is_encrypted_by_the_upgrade(tmp_path):
    """An install from before encryption at rest holds its signing key in plaintext; after
    `portal db upgrade` the row holds no usable key and the published key is the same."""
    import sqlalchemy as sa
    from alembic import command
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from portal_lti.tool import private_pem, published_keys, signing_key
    from portal_testing import make_app

    from portal.plugin_setup import plugin_migration_config, upgrade_database

    app = make_app(f"sqlite:///{tmp_path / 'old.sqlite3'}", tmp_path)
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        (folder,) = [
            path for name, path in app.extensions["portal.registry"].migration_dirs if name == "lti"
        ]
        command.upgrade(plugin_migration_config("lti", folder), "lti_0003_grades")
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "insert into lti_tool_keys (kid, private_pem, active, created_at) "
                    "values ('old', :pem, true, '2026-01-01 00:00:00')"
                ),
                {"pem": pem},
            )

        upgrade_database()

        with db.engine.connect() as connection:
            stored = connection.execute(sa.text("select private_pem from lti_tool_keys")).scalar()
        assert "PRIVATE KEY" not in stored
        assert private_pem(signing_key()) == pem
        assert len(published_keys()["keys"]) == 1
        db.session.remove()
        db.engine.dispose()
