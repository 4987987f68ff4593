"""Ratings and comments on occurrences and recordings."""

from __future__ import annotations

import pytest
from content_utils import past_class

from portal.core import classes, feedback, meetings
from portal.core.errors import ValidationFailed
from portal.core.models import AuditLog, Feedback, Meeting, MeetingState
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import RecordingInfo


@pytest.fixture
def lesson(school):
    """A finished class with the school's two students enrolled."""
    klass, schedule = past_class(school.teacher, [school.student, school.classmate])
    return type("Lesson", (), dict(klass=klass, schedule=schedule))


def _url(lesson):
    return f"/api/schedules/{lesson.schedule.id}/feedback"


def test_enrolled_student_rates_and_edits_one_feedback(school, lesson, login):
    student = login(school.student)
    created = student.client.put(
        _url(lesson), json={"rating": 4, "comment": "clear"}, headers=student._headers()
    )
    assert created.status_code == 201, created.get_json()
    edited = student.client.put(
        _url(lesson), json={"rating": 5, "comment": "very clear"}, headers=student._headers()
    )
    assert edited.status_code == 200
    assert edited.get_json()["id"] == created.get_json()["id"]
    assert db.session.execute(db.select(db.func.count(Feedback.id))).scalar_one() == 1
    mine = student.get(f"{_url(lesson)}/mine").get_json()
    assert (mine["rating"], mine["comment"]) == (5, "very clear")

    patched = student.patch(f"/api/feedback/{mine['id']}", json={"comment": "changed my mind"})
    assert patched.status_code == 200
    assert (patched.get_json()["rating"], patched.get_json()["comment"]) == (5, "changed my mind")


def test_rating_outside_1_to_5_is_refused(school, lesson, login):
    student = login(school.student)
    for rating in (6, 0, -1, 4.5, "5", None):
        response = student.client.put(
            _url(lesson), json={"rating": rating}, headers=student._headers()
        )
        assert response.status_code == 400, rating
        assert "rating" in response.get_json()["error"]["message"]
    assert db.session.execute(db.select(db.func.count(Feedback.id))).scalar_one() == 0


def test_service_refuses_rating_of_6_too(school, lesson):
    with pytest.raises(ValidationFailed) as err:
        feedback.rate_occurrence(school.student, lesson.schedule.id, 6)
    assert err.value.code == "invalid_rating"


def test_non_member_cannot_rate(school, lesson, login):
    outsider = login(school.outsider)
    response = outsider.client.put(_url(lesson), json={"rating": 3}, headers=outsider._headers())
    assert response.status_code == 404
    assert db.session.execute(db.select(db.func.count(Feedback.id))).scalar_one() == 0


def test_attendee_who_is_not_enrolled_may_rate(school, lesson, login):
    meeting = Meeting(
        schedule_id=lesson.schedule.id,
        backend="fake",
        status=MeetingState.ENDED.value,
        started_at=utcnow(),
    )
    db.session.add(meeting)
    db.session.flush()
    meetings.record_attendance(
        meeting, user_id=school.outsider.id, name=school.outsider.name, source="portal"
    )
    db.session.commit()
    outsider = login(school.outsider)
    assert (
        outsider.client.put(
            _url(lesson), json={"rating": 2}, headers=outsider._headers()
        ).status_code
        == 201
    )


def test_teacher_cannot_rate_own_class_nor_edit_students_feedback(school, lesson, login):
    student, teacher = login(school.student), login(school.teacher)
    fid = student.client.put(
        _url(lesson), json={"rating": 1, "comment": "too fast"}, headers=student._headers()
    ).get_json()["id"]
    own = teacher.client.put(_url(lesson), json={"rating": 5}, headers=teacher._headers())
    assert own.status_code == 403
    assert own.get_json()["error"]["code"] == "cannot_rate_own_class"

    edit = teacher.patch(f"/api/feedback/{fid}", json={"rating": 5, "comment": "great"})
    assert edit.status_code == 403
    assert edit.get_json()["error"]["code"] == "not_author"
    assert teacher.delete(f"/api/feedback/{fid}").status_code == 403
    assert (
        login(school.classmate).patch(f"/api/feedback/{fid}", json={"rating": 5}).status_code == 404
    )
    db.session.expire_all()
    row = db.session.get(Feedback, fid)
    assert (row.rating, row.comment) == (1, "too fast")
    # An admin may remove abusive feedback (moderation), audit-logged.
    assert login(school.admin).delete(f"/api/feedback/{fid}").status_code == 204
    assert (
        db.session.execute(db.select(AuditLog).filter_by(action="feedback.delete"))
        .scalar_one()
        .actor_id
        == school.admin.id
    )


def test_cannot_rate_before_start_or_a_cancelled_occurrence(school, lesson, login):
    student = login(school.student)
    early = student.client.put(
        f"/api/schedules/{school.schedule.id}/feedback",
        json={"rating": 3},
        headers=student._headers(),
    )
    assert early.status_code == 409
    assert early.get_json()["error"]["code"] == "not_started"
    classes.cancel_occurrence(school.teacher, lesson.schedule.id)
    db.session.commit()
    cancelled = student.client.put(_url(lesson), json={"rating": 3}, headers=student._headers())
    assert cancelled.get_json()["error"]["code"] == "class_cancelled"


def test_summary_has_average_and_distribution_for_teacher_and_admin_only(school, lesson, login):
    for user, rating in ((school.student, 5), (school.classmate, 2)):
        api = login(user)
        assert (
            api.client.put(
                _url(lesson),
                json={"rating": rating, "comment": f"r{rating}"},
                headers=api._headers(),
            ).status_code
            == 201
        )
    for viewer in (school.teacher, school.admin):
        summary = login(viewer).get(f"{_url(lesson)}/summary")
        assert summary.status_code == 200
        body = summary.get_json()
        assert body["count"] == 2
        assert body["average"] == 3.5
        assert body["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
        assert sorted(i["comment"] for i in body["items"]) == ["r2", "r5"]
    assert login(school.student).get(f"{_url(lesson)}/summary").status_code == 403
    whole = login(school.teacher).get(f"/api/classes/{lesson.klass.id}/feedback/summary").get_json()
    assert whole["count"] == 2


def test_recording_feedback_only_on_published_recordings_by_members(school, lesson, login):
    meeting = Meeting(
        schedule_id=lesson.schedule.id, backend="fake", status=MeetingState.ENDED.value
    )
    db.session.add(meeting)
    db.session.commit()
    published, _ = meetings.store_recording(meeting, RecordingInfo(record_id="r1", title="Rec"))
    hidden, _ = meetings.store_recording(
        meeting, RecordingInfo(record_id="r2", title="Draft", published=False)
    )
    student = login(school.student)

    def rate(api, rec_id, rating):
        return api.client.put(
            f"/api/recordings/{rec_id}/feedback", json={"rating": rating}, headers=api._headers()
        )

    assert rate(student, published.id, 4).status_code == 201
    assert rate(student, published.id, 3).status_code == 200
    assert rate(student, published.id, 6).status_code == 400
    assert rate(student, hidden.id, 4).status_code == 404
    assert rate(login(school.outsider), published.id, 4).status_code == 404
    summary = (
        login(school.teacher).get(f"/api/recordings/{published.id}/feedback/summary").get_json()
    )
    assert (summary["count"], summary["average"]) == (1, 3.0)
