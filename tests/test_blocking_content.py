"""A blocked user tries every class action; unblocking (or expiry) restores them."""

from __future__ import annotations

from datetime import timedelta

from content_utils import make_pdf, make_png, past_class, upload

from portal.core import meetings
from portal.core.models import AuditLog, BlockedUser, Meeting
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import RecordingInfo


def _setup(school, login):
    """A running class with a shared file and a published recording, plus a finished
    lesson the student can rate."""
    teacher = login(school.teacher)
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    media_id = upload(
        teacher, f"/api/classes/{school.klass.id}/media", make_png(), "a.png"
    ).get_json()["id"]
    slide_id = upload(
        teacher, f"/api/classes/{school.klass.id}/slides", make_pdf(), "s.pdf"
    ).get_json()["id"]
    meeting = db.session.execute(
        db.select(Meeting).filter_by(schedule_id=school.schedule.id)
    ).scalar_one()
    recording, _ = meetings.store_recording(meeting, RecordingInfo(record_id="r1", title="Rec"))
    return media_id, slide_id, recording.id


def _attempts(api, school, media_id, slide_id, recording_id, rating_schedule_id):
    """Status code of every class action the user tries."""
    cid = school.klass.id
    return {
        "join": api.post(f"/api/schedules/{school.schedule.id}/join").status_code,
        "upload": upload(api, f"/api/classes/{cid}/media", make_png(), "b.png").status_code,
        "list_media": api.get(f"/api/classes/{cid}/media").status_code,
        "download_media": api.get(f"/api/media/{media_id}/download").status_code,
        "list_slides": api.get(f"/api/classes/{cid}/slides").status_code,
        "download_slides": api.get(f"/api/slides/{slide_id}/download").status_code,
        "rate_class": api.client.put(
            f"/api/schedules/{rating_schedule_id}/feedback",
            json={"rating": 3},
            headers=api._headers(),
        ).status_code,
        "rate_recording": api.client.put(
            f"/api/recordings/{recording_id}/feedback", json={"rating": 3}, headers=api._headers()
        ).status_code,
        "class_recordings": api.get(f"/api/classes/{cid}/recordings").status_code,
    }


def test_class_block_stops_every_action_and_unblock_restores(school, login):
    ids = _setup(school, login)
    lesson = school.schedule
    student = login(school.student)
    teacher = login(school.teacher)
    blocked = teacher.post(
        "/api/blocks",
        json={
            "user_id": school.student.id,
            "scope": "class",
            "class_id": school.klass.id,
            "reason": "spamming the chat",
        },
    )
    assert blocked.status_code == 201, blocked.get_json()

    # Ratings need a started occurrence: the fixture's starts in 5 minutes, so move it back.
    lesson.starts_at = utcnow() - timedelta(minutes=10)
    lesson.ends_at = utcnow() + timedelta(minutes=50)
    db.session.commit()

    results = _attempts(student, school, *ids, lesson.id)
    assert results == {key: 403 for key in results}, results
    message = student.post(f"/api/schedules/{school.schedule.id}/join").get_json()["error"]
    assert message["code"] == "blocked"
    assert "spamming the chat" in message["message"]
    assert student.get("/api/recordings").get_json() == []

    # A classmate is not affected.
    assert (
        login(school.classmate).post(f"/api/schedules/{school.schedule.id}/join").status_code == 200
    )

    assert teacher.delete(f"/api/blocks/{blocked.get_json()['id']}").status_code == 204
    results = _attempts(student, school, *ids, lesson.id)
    assert results["join"] == 200
    assert results["upload"] == 201
    assert results["rate_class"] in (200, 201) and results["rate_recording"] in (200, 201)
    assert all(code in (200, 201) for code in results.values()), results
    actions = list(
        db.session.execute(
            db.select(AuditLog.action).where(AuditLog.action.like("user.%block"))
        ).scalars()
    )
    assert sorted(actions) == ["user.block", "user.unblock"]


def test_site_block_by_admin_covers_teachers_uploads_too(school, login):
    admin = login(school.admin)
    block = admin.post(
        "/api/blocks",
        json={"user_id": school.teacher.id, "scope": "site", "reason": "account review"},
    )
    assert block.status_code == 201
    teacher = login(school.teacher)
    response = upload(teacher, f"/api/classes/{school.klass.id}/slides", make_pdf(), "s.pdf")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "blocked"
    assert (
        upload(teacher, f"/api/classes/{school.klass.id}/media", make_png(), "a.png").status_code
        == 403
    )

    assert admin.delete(f"/api/blocks/{block.get_json()['id']}").status_code == 204
    assert (
        upload(teacher, f"/api/classes/{school.klass.id}/slides", make_pdf(), "s.pdf").status_code
        == 201
    )


def test_expired_block_no_longer_applies(school, login):
    teacher = login(school.teacher)
    block = teacher.post(
        "/api/blocks",
        json={
            "user_id": school.student.id,
            "scope": "class",
            "class_id": school.klass.id,
            "reason": "cool down",
            "expires_at": (utcnow() + timedelta(hours=1)).isoformat(),
        },
    )
    assert block.status_code == 201
    student = login(school.student)
    assert (
        upload(student, f"/api/classes/{school.klass.id}/media", make_png(), "a.png").status_code
        == 403
    )
    row = db.session.get(BlockedUser, block.get_json()["id"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert (
        upload(student, f"/api/classes/{school.klass.id}/media", make_png(), "a.png").status_code
        == 201
    )


def test_blocked_feedback_author_cannot_edit_their_feedback(school, login):
    _, lesson = past_class(school.teacher, [school.student])
    student = login(school.student)
    fid = student.client.put(
        f"/api/schedules/{lesson.id}/feedback", json={"rating": 4}, headers=student._headers()
    ).get_json()["id"]
    login(school.teacher).post(
        "/api/blocks",
        json={
            "user_id": school.student.id,
            "scope": "class",
            "class_id": lesson.class_id,
            "reason": "abuse",
        },
    )
    assert student.patch(f"/api/feedback/{fid}", json={"rating": 1}).status_code == 403
