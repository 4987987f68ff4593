"""Assignment and Grade Services against the LMS double: after a linked class ends, each
LMS learner's attendance reaches the LMS gradebook as a score, retried after a 503, with
the state shown to the teacher."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from platform_double import new_person
from test_lti_launch import PORTAL, launch

from portal.core import meetings
from portal.core.models import Attendance, Schedule, User
from portal.extensions import db
from portal.plugins import services

pytestmark = pytest.mark.real_commits  # the LMS fetches the tool's keys from the served portal


def class_linked_to_an_existing_class(app, lms, teacher: str):
    """The teacher links the activity to a class of theirs that starts in 5 minutes."""
    browser = app.test_client()
    response, _ = launch(browser, lms, teacher)
    launch_id = parse_qs(urlsplit(response.headers["Location"]).query)["launch"][0]
    with services.unit_of_work():
        teacher_id = services.find_user_by_identity("lti", f"{lms.issuer} {teacher}").id
        class_id = services.create_class(
            teacher_id, "Maths 7B live", services.now() + timedelta(minutes=5)
        ).id
    done = browser.post(
        "/lti/setup", data={"launch": launch_id, "class_id": str(class_id)}, base_url=PORTAL
    )
    assert done.headers["Location"] == f"/classes/{class_id}"
    return browser, class_id


def score_row():
    from portal_lti.models import LtiPendingScore

    db.session.rollback()  # see what the job committed
    return db.session.execute(db.select(LtiPendingScore)).scalar_one()


def test_a_grade_is_posted_after_a_class_and_retried_after_a_503(app, lms, fake_config):
    from portal_lti.grades import post_pending_scores

    teacher, learner = new_person(lms, "teacher"), new_person(lms, "student")
    teacher_browser, class_id = class_linked_to_an_existing_class(app, lms, teacher)
    landed, _ = launch(app.test_client(), lms, learner)
    assert landed.headers["Location"] == f"/classes/{class_id}"

    def portal_user(person):
        db.session.rollback()
        return db.session.execute(
            db.select(User).where(User.email == f"{person}@lms.school")
        ).scalar_one()

    schedule = db.session.execute(db.select(Schedule).filter_by(class_id=class_id)).scalar_one()
    teacher_user, learner_user = portal_user(teacher), portal_user(learner)
    with services.unit_of_work():
        meetings.start_class(teacher_user, schedule.id)
    with services.unit_of_work():
        meetings.join_class(learner_user, schedule.id)
        db.session.flush()
        # The learner has been in the class for half an hour when it ends.
        db.session.execute(
            db.update(Attendance)
            .where(Attendance.user_id == learner_user.id)
            .values(first_joined_at=services.now() - timedelta(minutes=30))
        )
    lms.fail_scores = 1  # the gradebook answers 503 once
    with services.unit_of_work():
        meetings.end_class(teacher_user, schedule.id)

    # The class_ended hook queued the score and started the job; it met the 503.
    for _ in range(200):
        post_pending_scores()  # harmless next to the started job: a score is claimed once
        row = score_row()
        if row.attempts and row.last_error:
            break
        time.sleep(0.05)
    assert row.state == "pending" and "503" in row.last_error
    assert lms.score_attempts == 1 and lms.scores["1"] == []
    page = teacher_browser.get(f"/lti/grades/{class_id}", base_url=PORTAL)
    assert page.status_code == 200 and "waiting (next try" in page.get_data(as_text=True)

    # The retry is due (the job backs off a minute after a first failure): it goes through.
    with services.unit_of_work():
        db.session.execute(
            db.update(type(row)).values(next_attempt_at=services.now() - timedelta(seconds=1))
        )
    assert post_pending_scores() == 1
    assert lms.score_attempts == 2
    [score] = lms.scores["1"]
    assert score["userId"] == learner
    assert score["scoreGiven"] == 30 and score["scoreMaximum"] == 60
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    [item] = lms.lineitems.values()
    assert item["resourceLinkId"] == "resource-link-1"
    assert score_row().state == "sent"
    page = teacher_browser.get(f"/lti/grades/{class_id}", base_url=PORTAL).get_data(as_text=True)
    assert "30 / 60 minutes" in page and ">sent<" in page
    # Nothing is posted twice.
    assert post_pending_scores() == 0 and len(lms.scores["1"]) == 1


def test_only_the_classes_teacher_sees_its_lms_grades(app, lms):
    _, class_id = class_linked_to_an_existing_class(app, lms, new_person(lms, "teacher"))
    other = app.test_client()
    launch(other, lms, new_person(lms, "teacher"))
    assert other.get(f"/lti/grades/{class_id}", base_url=PORTAL).status_code == 404
    assert app.test_client().get(f"/lti/grades/{class_id}", base_url=PORTAL).status_code == 401


def test_the_class_page_links_its_teacher_to_the_lms_grades(app, lms):
    browser, class_id = class_linked_to_an_existing_class(app, lms, new_person(lms, "teacher"))
    page = browser.get(f"/classes/{class_id}", base_url=PORTAL).get_data(as_text=True)
    assert f'href="/lti/grades/{class_id}"' in page
    assert "Attendance sent to the LMS gradebook" in page
    learner = app.test_client()
    launch(learner, lms, new_person(lms, "student"))
    page = learner.get(f"/classes/{class_id}", base_url=PORTAL).get_data(as_text=True)
    assert "/lti/grades/" not in page
