"""LTI Advantage services against the LMS double: the OAuth2 client-credentials grant with a
JWT assertion the platform verifies against the portal's own /lti/jwks (served over HTTP),
and the class roster following the course's membership (Names and Role Provisioning)."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from platform_double import CLIENT_ID, NRPS_SCOPE, new_person, other_key
from test_lti_launch import PORTAL, launch

from portal.core.models import Enrolment, User
from portal.extensions import db
from portal.plugins import services

pytestmark = pytest.mark.real_commits  # the LMS fetches the tool's keys from the served portal


def linked_class(app, lms, teacher: str) -> int:
    """The teacher's first launch, set up as a new class; returns the class id."""
    browser = app.test_client()
    response, _ = launch(browser, lms, teacher)
    launch_id = parse_qs(urlsplit(response.headers["Location"]).query)["launch"][0]
    done = browser.post(
        "/lti/setup", data={"launch": launch_id, "class_id": "new"}, base_url=PORTAL
    )
    assert done.status_code == 303, done.get_data(as_text=True)
    return int(done.headers["Location"].rsplit("/", 1)[1])


def enrolled(class_id: int) -> set[str]:
    db.session.rollback()  # see what the requests committed
    rows = db.session.execute(
        db.select(User.email).join(Enrolment).where(Enrolment.class_id == class_id)
    )
    return {email.split("@", 1)[0] for email in rows.scalars()}


def test_tool_obtains_a_scoped_token_with_a_signed_assertion(app, lms):
    from portal_lti.tool import find_platform, service_connector

    with services.unit_of_work():
        token = service_connector(find_platform(lms.issuer, CLIENT_ID)).get_access_token(
            [NRPS_SCOPE]
        )
    assert lms.tokens[token] == {NRPS_SCOPE}
    assert [status for status, _ in lms.token_answers] == [200]


def assertion(key, **changes) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "iat": now, "exp": now + 60}
    claims |= {"jti": uuid.uuid4().hex, **changes}
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt.encode(claims, key, algorithm="RS256"),
        "scope": NRPS_SCOPE,
    }


def test_the_double_refuses_assertions_the_tool_did_not_sign(app, lms):
    """The double's token endpoint really checks: a key outside the portal's JWKS, a wrong
    audience and a replayed jti are all refused."""
    url = lms.issuer + "/token"
    forged = requests.post(url, data=assertion(other_key(), aud=url), timeout=10)
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"
    from portal_lti.tool import private_pem, signing_key

    with services.unit_of_work():
        pem = private_pem(signing_key())
    wrong_aud = requests.post(url, data=assertion(pem, aud=lms.issuer), timeout=10)
    assert wrong_aud.status_code == 401
    once = assertion(pem, aud=url)
    assert requests.post(url, data=once, timeout=10).status_code == 200
    assert requests.post(url, data=once, timeout=10).status_code == 401


def test_roster_sync_adds_and_drops_learners(app, lms):
    learners = [new_person(lms, "student") for _ in range(3)]
    for person in learners:
        lms.add_member(person)
    teacher = new_person(lms, "teacher")
    lms.add_member(teacher)  # the course's teacher is not enrolled as a student
    class_id = linked_class(app, lms, teacher)
    # Linking the activity synced the whole roster, across the two pages of the container.
    assert enrolled(class_id) == set(learners)
    assert len(lms.membership_requests) == 2
    assert all(lms.scope_of(auth) == {NRPS_SCOPE} for auth in lms.membership_requests)

    kept, inactive, gone = learners
    lms.add_member(inactive, status="Inactive")
    lms.members = [m for m in lms.members if m["user_id"] != gone]
    newcomer = new_person(lms, "student")
    lms.add_member(newcomer)
    again, _ = launch(app.test_client(), lms, teacher)  # the teacher's next launch
    assert again.headers["Location"] == f"/classes/{class_id}"
    assert enrolled(class_id) == {kept, newcomer}


def test_periodic_sync_drops_a_learner_who_had_launched(app, lms):
    from portal_lti.roster import sync_all_rosters

    teacher = new_person(lms, "teacher")
    class_id = linked_class(app, lms, teacher)
    learner = new_person(lms, "student")
    lms.add_member(learner)
    landed, _ = launch(app.test_client(), lms, learner)
    assert landed.headers["Location"] == f"/classes/{class_id}"
    assert enrolled(class_id) == {learner}
    lms.members = []  # dropped from the course in the LMS
    assert sync_all_rosters() == 1
    assert enrolled(class_id) == set()


def test_an_lms_that_fails_leaves_the_roster_and_the_launch_alone(app, lms):
    learner = new_person(lms, "student")
    lms.add_member(learner)
    teacher = new_person(lms, "teacher")
    class_id = linked_class(app, lms, teacher)
    lms.tool_jwks_url = lms.issuer + "/nowhere"  # the token endpoint now refuses the tool
    lms.members = []
    again, _ = launch(app.test_client(), lms, teacher)
    assert again.headers["Location"] == f"/classes/{class_id}"
    assert enrolled(class_id) == {learner}


def test_the_periodic_sync_is_scheduled_every_hour(app):
    """The sync above runs between launches: the scheduler has it as an hourly job."""
    from portal_lti.roster import sync_all_rosters

    job = app.extensions["portal.registry"].periodic_jobs["lti-roster-sync"]
    assert job.every_seconds == 3600 and job.func is sync_all_rosters
