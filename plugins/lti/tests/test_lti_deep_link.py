"""Deep Linking 2.0: a teacher adds a portal class from the LMS's "add activity"; the
signed response passes the platform's checks and the new activity opens that class."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from platform_double import CLAIM, form_fields, new_person
from test_lti_launch import PORTAL, launch

from portal.core.models import Class
from portal.extensions import db

pytestmark = pytest.mark.real_commits  # the LMS fetches the tool's keys from the served portal


def test_deep_link_response_is_accepted_and_the_activity_opens_the_class(app, lms):
    teacher = new_person(lms, "teacher")
    browser = app.test_client()
    response, _ = launch(browser, lms, teacher, **lms.deep_linking_request("opaque-42"))
    assert response.status_code == 303, response.get_data(as_text=True)
    page_url = response.headers["Location"]
    assert page_url.startswith("/lti/deep-link?launch=")
    assert "Add a portal class" in browser.get(page_url, base_url=PORTAL).get_data(as_text=True)
    launch_id = parse_qs(urlsplit(page_url).query)["launch"][0]
    answer = browser.post(
        "/lti/deep-link",
        data={"launch": launch_id, "class_id": "new", "title": "Maths live"},
        base_url=PORTAL,
    )
    assert answer.status_code == 200
    action, fields = form_fields(answer.get_data(as_text=True))
    assert action == lms.issuer + "/deep-link-return"
    [item] = lms.check_deep_link_response(fields["JWT"], "opaque-42")
    db.session.rollback()
    klass = db.session.execute(db.select(Class)).scalar_one()
    assert klass.title == "Maths live" and item["title"] == "Maths live"
    assert item["url"] == PORTAL + "/lti/launch"
    assert item["custom"] == {"portal_class_id": str(klass.id)}

    # The LMS stores the activity; a learner's first launch of it lands in the class.
    learner = new_person(lms, "student")
    landed, _ = launch(
        app.test_client(),
        lms,
        learner,
        **{
            CLAIM + "resource_link": {"id": "new-activity-9", "title": "Maths live"},
            CLAIM + "custom": item["custom"],
        },
    )
    assert landed.headers["Location"] == f"/classes/{klass.id}"


def test_a_learner_cannot_deep_link(client, lms):
    response, _ = launch(client, lms, new_person(lms, "student"), **lms.deep_linking_request("x"))
    assert response.status_code == 403
    assert "only a teacher" in response.get_data(as_text=True)


def test_a_custom_class_id_of_another_schools_teacher_is_not_linked(app, lms, make_user):
    from portal.core import classes
    from portal.plugins import services

    outsider = make_user("teacher")  # a portal teacher who never came from this LMS
    klass = classes.create_class(
        outsider,
        classes.ClassInput(
            title="Private", starts_at=services.now().replace(year=2099), duration_minutes=60
        ),
    )
    db.session.commit()
    landed, _ = launch(
        app.test_client(),
        lms,
        new_person(lms, "student"),
        **{CLAIM + "custom": {"portal_class_id": str(klass.id)}},
    )
    assert landed.headers["Location"] == "/lti/not-ready"
