"""Retention (issue #23): the one periodic job deletes exactly what is older than the
policy, whichever scheduler runs it, keeps recordings on legal hold, and logs counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal import tasks
from portal.core import storage, unit_of_work
from portal.core.models import (
    Attendance,
    AuditLog,
    ChatMessage,
    Media,
    Meeting,
    Notification,
    Recording,
    Schedule,
)
from portal.core.privacy import retention
from portal.extensions import db

KEEP_DAYS = 30


def _occurrence(klass, ended_days_ago: float, tag: str) -> dict[str, object]:
    """An occurrence of `klass` that ended `ended_days_ago` days ago, with a chat message,
    an attendance row, a sent notification, an uploaded file and a recording."""
    from portal.core.types import utcnow

    ends = utcnow() - timedelta(days=ended_days_ago)
    schedule = Schedule(
        class_id=klass.id,
        starts_at=ends - timedelta(hours=1),
        ends_at=ends,
        original_starts_at=ends - timedelta(hours=1),
    )
    db.session.add(schedule)
    db.session.flush()
    meeting = Meeting(schedule_id=schedule.id, backend="fake", status="ended")
    db.session.add(meeting)
    db.session.flush()
    key = storage.new_key(f"media/{klass.id}", "txt")
    storage.get_storage().save(key, tag.encode(), "text/plain")
    # A recording whose file the portal stores (as the Jitsi and SFU backends' are).
    video = storage.new_key(f"recordings/{klass.id}", "mp4")
    storage.get_storage().save(video, b"video of " + tag.encode(), "video/mp4")
    db.session.add_all(
        [
            ChatMessage(schedule_id=schedule.id, user_id=klass.teacher_id, body=tag),
            Attendance(meeting_id=meeting.id, user_id=klass.teacher_id, display_name=tag),
            Notification(
                user_id=klass.teacher_id,
                schedule_id=schedule.id,
                kind="reminder",
                key=tag,
                channel="email",
                due_at=ends,
                status="sent",
            ),
            Media(
                class_id=klass.id,
                schedule_id=schedule.id,
                filename=f"{tag}.txt",
                content_type="text/plain",
                size_bytes=len(tag),
                storage_key=key,
            ),
            Recording(
                class_id=klass.id,
                meeting_id=meeting.id,
                backend="fake",
                backend_record_id=f"rec-{tag}",
                title=tag,
                storage_key=video,
            ),
        ]
    )
    db.session.commit()
    return {"key": key, "video": video}


def _left(model, column) -> set[str]:
    return set(db.session.execute(sa.select(column)).scalars())


@pytest.fixture
def history(app, make_user, clock):
    from content_utils import past_class

    teacher = make_user("teacher")
    admin = make_user("admin")
    klass, _ = past_class(teacher, [], hours_ago=24 * 400)
    held, _ = past_class(teacher, [], hours_ago=24 * 400, title="Held")
    files = {
        "old": _occurrence(klass, KEEP_DAYS + 1, "old"),
        "recent": _occurrence(klass, KEEP_DAYS - 1, "recent"),
        "held-old": _occurrence(held, KEEP_DAYS + 1, "held-old"),
    }
    # Only the occurrences made here: the classes' own first occurrences hold nothing.
    retention.update_policy(admin, {kind: KEEP_DAYS for kind in retention.KINDS})
    retention.set_legal_hold(admin, held.id, True)
    db.session.commit()
    return type("History", (), dict(admin=admin, klass=klass, held=held, files=files))


def _assert_only_old_rows_went(history) -> None:
    assert _left(ChatMessage, ChatMessage.body) == {"recent"}
    assert _left(Attendance, Attendance.display_name) == {"recent"}
    assert _left(Notification, Notification.key) == {"recent"}
    assert _left(Media, Media.filename) == {"recent.txt"}
    # The held class's old recording stays; its other old rows go.
    assert _left(Recording, Recording.title) == {"recent", "held-old"}
    stored = storage.get_storage()
    with pytest.raises(Exception, match="no such file"):
        stored.read(history.files["old"]["key"])
    assert stored.read(history.files["recent"]["key"]) == b"recent"
    with pytest.raises(Exception, match="no such file"):
        stored.read(history.files["old"]["video"])
    assert stored.read(history.files["held-old"]["video"]) == b"video of held-old"


def test_retention_deletes_exactly_what_is_older_than_the_policy(history):
    counts = retention.apply()
    unit_of_work.commit()
    assert counts == {
        "chat": 2,
        "attendance": 2,
        "notifications": 2,
        "uploads": 2,
        "recordings": 1,
        "exports": 0,
    }
    _assert_only_old_rows_went(history)
    entry = db.session.execute(sa.select(AuditLog).filter_by(action="privacy.retention")).scalar()
    assert entry is not None and entry.details["recordings"] == 1
    # A second run finds nothing more and logs nothing more.
    assert not any(retention.apply().values())


def test_retention_waits_for_the_policy_period_on_the_clock(history, clock):
    retention.apply()
    unit_of_work.commit()
    clock.advance(days=2)  # the "recent" occurrence is now older than 30 days too
    counts = retention.apply()
    assert counts["chat"] == 1 and counts["recordings"] == 1
    assert _left(Recording, Recording.title) == {"held-old"}


def test_nothing_is_deleted_without_a_policy(app, make_user, clock):
    from content_utils import past_class

    klass, _ = past_class(make_user("teacher"), [], hours_ago=24 * 400)
    _occurrence(klass, 1000, "ancient")
    assert not any(retention.apply().values())
    assert _left(ChatMessage, ChatMessage.body) == {"ancient"}


def test_a_bad_period_is_refused(app, make_user, client):
    from portal_testing import sign_in

    admin = sign_in(client, make_user("admin"))
    response = admin.patch("/api/admin/privacy", json={"chat": 0})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"
    ok = admin.patch("/api/admin/privacy", json={"chat": 90, "erasure_policy": "delete"})
    assert ok.status_code == 200
    assert ok.get_json()["chat"] == 90 and ok.get_json()["erasure_policy"] == "delete"
    assert ok.get_json()["uploads"] is None


def test_the_retention_job_is_on_celery_beat_and_the_in_process_scheduler(app):
    jobs = tasks.all_jobs(app)
    assert retention.JOB in jobs and jobs[retention.JOB].func is retention.run
    beat = tasks.celery_of(app).conf.beat_schedule
    assert beat[f"periodic:{retention.JOB}"]["args"] == (retention.JOB,)


def test_celery_beats_task_runs_the_retention(history):
    """What beat sends ("portal.periodic" with the job's name) runs the same retention."""
    from flask import current_app

    tasks.celery_of(current_app).tasks["portal.periodic"].apply(args=(retention.JOB,))
    _assert_only_old_rows_went(history)


@pytest.mark.real_commits
def test_the_in_process_scheduler_runs_the_retention(history, app):
    import time

    scheduler = tasks.InProcessScheduler(app)
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            db.session.rollback()
            if _left(ChatMessage, ChatMessage.body) == {"recent"}:
                break
            time.sleep(0.1)
    finally:
        scheduler.stop()
        scheduler.join(timeout=10)
    db.session.rollback()
    _assert_only_old_rows_went(history)
