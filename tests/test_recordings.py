"""The uniform recordings list and the teacher's publish/unpublish/delete controls."""

from __future__ import annotations

from datetime import timedelta

from content_utils import fetch, moto_s3_fixture, storage_kind_fixture  # noqa: F401  (fixtures)
from fake_backend import FAKE

from portal.core import meetings, storage
from portal.core.models import AuditLog, Meeting, Recording
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import BackendUnavailable, RecordingInfo


def _recordings(school, login):
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    shown, _ = meetings.store_recording(
        meeting,
        RecordingInfo(
            record_id="rec-1",
            title="Lesson 1",
            recorded_at=utcnow() - timedelta(hours=1),
            duration_seconds=3600,
            playback_url="https://fake.example/playback/rec-1",
            format="presentation",
        ),
    )
    hidden, _ = meetings.store_recording(
        meeting,
        RecordingInfo(record_id="rec-2", title="Draft", recorded_at=utcnow(), published=False),
    )
    return shown, hidden


def test_students_see_only_published_recordings_of_their_classes(school, login):
    shown, hidden = _recordings(school, login)
    student = login(school.student)

    class_list = student.get(f"/api/classes/{school.klass.id}/recordings").get_json()
    assert [r["id"] for r in class_list] == [shown.id]
    item = class_list[0]
    assert item["backend"] == "fake"
    assert item["title"] == "Lesson 1"
    assert item["duration_seconds"] == 3600
    assert item["playback_url"] == "https://fake.example/playback/rec-1"
    assert item["schedule_id"] == school.schedule.id
    assert item["class_title"] == "Algebra"
    assert item["published"] is True and item["has_file"] is False

    assert [r["id"] for r in student.get("/api/recordings").get_json()] == [shown.id]
    assert student.get(f"/api/recordings/{hidden.id}").status_code == 404
    assert student.get(f"/api/recordings/{shown.id}").status_code == 200

    teacher_ids = {
        r["id"]
        for r in login(school.teacher).get(f"/api/classes/{school.klass.id}/recordings").get_json()
    }
    assert teacher_ids == {shown.id, hidden.id}
    assert {r["id"] for r in login(school.admin).get("/api/recordings").get_json()} == {
        shown.id,
        hidden.id,
    }
    # Per student: what that student may watch (the student themselves, or an admin).
    per_student = login(school.admin).get(f"/api/users/{school.student.id}/recordings")
    assert [r["id"] for r in per_student.get_json()] == [shown.id]
    assert (
        login(school.classmate).get(f"/api/users/{school.student.id}/recordings").status_code == 403
    )

    outsider = login(school.outsider)
    assert outsider.get("/api/recordings").get_json() == []
    assert outsider.get(f"/api/classes/{school.klass.id}/recordings").status_code == 404
    assert outsider.get(f"/api/recordings/{shown.id}").status_code == 404
    assert login(school.other_teacher).get("/api/recordings").get_json() == []


def test_teacher_publishes_and_unpublishes_on_the_backend_too(school, login):
    shown, hidden = _recordings(school, login)
    teacher, student = login(school.teacher), login(school.student)

    published = teacher.post(f"/api/recordings/{hidden.id}/publish", json={"published": True})
    assert published.status_code == 200
    assert published.get_json()["published"] is True
    assert FAKE.published == {"rec-2": True}
    assert {r["id"] for r in student.get("/api/recordings").get_json()} == {shown.id, hidden.id}

    assert (
        teacher.post(f"/api/recordings/{shown.id}/publish", json={"published": False}).status_code
        == 200
    )
    assert FAKE.published["rec-1"] is False
    assert [r["id"] for r in student.get("/api/recordings").get_json()] == [hidden.id]
    actions = list(
        db.session.execute(
            db.select(AuditLog.action).where(AuditLog.action.like("recording.%"))
        ).scalars()
    )
    # Publishing is a visibility change now (published <-> teachers only).
    assert actions == ["recording.visibility", "recording.visibility"]


def test_students_and_other_teachers_cannot_change_recordings(school, login):
    shown, _ = _recordings(school, login)
    assert (
        login(school.student)
        .post(f"/api/recordings/{shown.id}/publish", json={"published": False})
        .status_code
        == 403
    )
    assert login(school.student).delete(f"/api/recordings/{shown.id}").status_code == 403
    assert login(school.other_teacher).delete(f"/api/recordings/{shown.id}").status_code == 404
    assert FAKE.published == {} and FAKE.deleted == []


def test_unreachable_backend_leaves_the_row_unchanged(school, login):
    shown, _ = _recordings(school, login)
    FAKE.fail_with = None
    original = FAKE.publish_recording

    def down(settings, record_id, published):
        raise BackendUnavailable("connection refused")

    FAKE.publish_recording = down
    try:
        response = login(school.teacher).post(
            f"/api/recordings/{shown.id}/publish", json={"published": False}
        )
    finally:
        FAKE.publish_recording = original
    assert response.status_code == 503
    db.session.expire_all()
    assert db.session.get(Recording, shown.id).published is True


def test_delete_removes_it_on_the_backend_and_its_stored_file(school, login, client, storage_kind):
    shown, _ = _recordings(school, login)
    key = storage.new_key(f"recordings/{school.klass.id}", "mp4")
    storage.get_storage().save(key, b"\x00\x00\x00\x18ftypmp42 video", "video/mp4")
    shown.storage_key = key
    db.session.commit()

    student = login(school.student)
    listed = student.get(f"/api/recordings/{shown.id}").get_json()
    assert listed["has_file"] is True
    link = student.get(f"/api/recordings/{shown.id}/download")
    assert link.status_code == 200
    assert fetch(client, link.get_json()["url"])[1] == b"\x00\x00\x00\x18ftypmp42 video"

    assert login(school.teacher).delete(f"/api/recordings/{shown.id}").status_code == 204
    assert FAKE.deleted == ["rec-1"]
    assert db.session.get(Recording, shown.id) is None
    try:
        storage.get_storage().read(key)
        raise AssertionError("the stored recording file should be gone")
    except Exception as exc:
        assert getattr(exc, "status", None) == 404
