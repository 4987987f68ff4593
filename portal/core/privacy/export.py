"""A user's data export (an access request): everything the portal holds about them as a zip
of JSON sections plus the files they uploaded, prepared in the background.

Requesting one adds an export_jobs row and wakes the "privacy-exports" job (Celery worker,
or a thread in embedded mode; the periodic run catches anything missed). The job writes
its progress on the row, so the profile page can show it, and stores the zip; the user
gets a time-limited signed link to it. Ready zips are deleted after EXPORT_KEEP."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from portal.core import audit, storage, unit_of_work
from portal.core.errors import NotFound
from portal.core.models import (
    Attendance,
    BlockedUser,
    BoardStroke,
    ChatMessage,
    Class,
    ClassStaff,
    Enrolment,
    ExportJob,
    Feedback,
    FloorSeat,
    LobbyEntry,
    Media,
    Meeting,
    Notification,
    Poll,
    PollOption,
    PollVote,
    Recording,
    Schedule,
    Slide,
    User,
)
from portal.core.privacy import access_log, identities
from portal.core.registry import hook
from portal.core.snapshots import user_info
from portal.core.types import utcnow
from portal.core.upsert import rows_matched
from portal.extensions import db
from portal.i18n import _

log = logging.getLogger(__name__)

JOB = "privacy-exports"
LINK_SECONDS = 24 * 3600  # how long a download link works
EXPORT_KEEP = timedelta(days=7)  # a ready zip is deleted after this (retention job)
MAX_PER_RUN = 20


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _owned(model: Any, owner: Any, user: User) -> list[Any]:
    """The rows of `model` whose `owner` column is this user, oldest first."""
    return list(
        db.session.execute(db.select(model).where(owner == user.id).order_by(model.id)).scalars()
    )


def _profile(user: User) -> list[dict[str, Any]]:
    return [
        {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "phone": user.phone,
            "role": user.role,
            "timezone": user.timezone,
            "active": user.is_active,
            "notification_channels": user.channel_choices,
            "created_at": _iso(user.created_at),
        }
    ]


def _all(stmt: Any) -> list[Any]:
    return list(db.session.execute(stmt).all())


def _class_titles(user: User) -> list[dict[str, Any]]:
    rows = _all(
        db.select(Enrolment, Class.title)
        .join(Class, Class.id == Enrolment.class_id)
        .where(Enrolment.user_id == user.id)
        .order_by(Enrolment.id)
    )
    return [
        {"class_id": e.class_id, "class": title, "enrolled_at": _iso(e.created_at)}
        for e, title in rows
    ]


def _staff(user: User) -> list[dict[str, Any]]:
    rows = _all(
        db.select(ClassStaff, Class.title)
        .join(Class, Class.id == ClassStaff.class_id)
        .where(ClassStaff.user_id == user.id)
    )
    return [{"class_id": s.class_id, "class": t, "role": s.role} for s, t in rows]


def _attendance(user: User) -> list[dict[str, Any]]:
    rows = _all(
        db.select(Attendance, Schedule, Class.title)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .join(Schedule, Schedule.id == Meeting.schedule_id)
        .join(Class, Class.id == Schedule.class_id)
        .where(Attendance.user_id == user.id)
        .order_by(Attendance.id)
    )
    return [
        {
            "class": title,
            "occurrence_starts_at": _iso(s.starts_at),
            "display_name": a.display_name,
            "source": a.source,
            "first_joined_at": _iso(a.first_joined_at),
            "last_seen_at": _iso(a.last_seen_at),
            "left_at": _iso(a.left_at),
        }
        for a, s, title in rows
    ]


def _chat(user: User) -> list[dict[str, Any]]:
    rows = _owned(ChatMessage, ChatMessage.user_id, user)
    return [
        {
            "schedule_id": m.schedule_id,
            "body": m.body,
            "sent_at": _iso(m.created_at),
            "deleted_at": _iso(m.deleted_at),
        }
        for m in rows
    ]


def _votes(user: User) -> list[dict[str, Any]]:
    rows = _all(
        db.select(PollVote, Poll.question, PollOption.text)
        .join(Poll, Poll.id == PollVote.poll_id)
        .join(PollOption, PollOption.id == PollVote.option_id)
        .where(PollVote.user_id == user.id)
        .order_by(PollVote.id)
    )
    return [
        {"poll": question, "option": text, "voted_at": _iso(v.created_at)}
        for v, question, text in rows
    ]


def _feedback(user: User) -> list[dict[str, Any]]:
    rows = _owned(Feedback, Feedback.user_id, user)
    return [
        {
            "class_id": f.class_id,
            "schedule_id": f.schedule_id,
            "recording_id": f.recording_id,
            "rating": f.rating,
            "comment": f.comment,
            "created_at": _iso(f.created_at),
        }
        for f in rows
    ]


def _uploads(user: User) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The user's uploaded files: their rows, and (path in the zip, storage key) pairs."""
    rows: list[dict[str, Any]] = []
    files: list[tuple[str, str]] = []
    media = _owned(Media, Media.uploaded_by, user)
    for m in media:
        path = f"files/media-{m.id}-{_safe(m.filename)}"
        rows.append(
            {"kind": "class file", "class_id": m.class_id, "filename": m.filename, "file": path}
        )
        files.append((path, m.storage_key))
    slides = _owned(Slide, Slide.uploaded_by, user)
    for s in slides:
        path = f"files/slides-{s.id}-{_safe(s.filename)}"
        rows.append(
            {"kind": "slide deck", "class_id": s.class_id, "filename": s.filename, "file": path}
        )
        files.append((path, s.storage_key))
    return rows, files


def _safe(filename: str) -> str:
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)
    return kept.strip("._")[:100] or "file"


def _notifications(user: User) -> list[dict[str, Any]]:
    rows = _owned(Notification, Notification.user_id, user)
    return [
        {
            "kind": n.kind,
            "channel": n.channel,
            "schedule_id": n.schedule_id,
            "status": n.status,
            "due_at": _iso(n.due_at),
            "sent_at": _iso(n.sent_at),
        }
        for n in rows
    ]


def _recordings(user: User) -> list[dict[str, Any]]:
    """Recordings of the meetings the user attended: links, not the videos (they show the
    whole class, not only this user)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    attended = db.select(Attendance.meeting_id).where(Attendance.user_id == user.id)
    rows = db.session.execute(
        db.select(Recording).where(Recording.meeting_id.in_(attended)).order_by(Recording.id)
    ).scalars()
    return [
        {
            "title": r.title,
            "recorded_at": _iso(r.recorded_at),
            "link": f"{base}/recordings/{r.id}",
        }
        for r in rows
    ]


def _room(user: User) -> list[dict[str, Any]]:
    """Waiting-room requests, floor seats (raised hands, grants) and whiteboard strokes."""
    lobby = db.session.execute(db.select(LobbyEntry).where(LobbyEntry.user_id == user.id))
    seats = db.session.execute(db.select(FloorSeat).where(FloorSeat.user_id == user.id))
    strokes = db.session.execute(db.select(BoardStroke).where(BoardStroke.user_id == user.id))
    return [
        *(
            {
                "kind": "waiting room",
                "schedule_id": e.schedule_id,
                "status": e.status,
                "message": e.message,
                "requested_at": _iso(e.requested_at),
            }
            for e in lobby.scalars()
        ),
        *(
            {
                "kind": "floor",
                "schedule_id": s.schedule_id,
                "hand_raised_at": _iso(s.hand_raised_at),
                "mic": s.mic,
                "camera": s.camera,
                "screen": s.screen,
            }
            for s in seats.scalars()
        ),
        *(
            {
                "kind": "whiteboard stroke",
                "schedule_id": b.schedule_id,
                "page": b.page,
                "data": b.data,
                "drawn_at": _iso(b.created_at),
            }
            for b in strokes.scalars()
        ),
    ]


def _blocks(user: User) -> list[dict[str, Any]]:
    rows = db.session.execute(db.select(BlockedUser).where(BlockedUser.user_id == user.id))
    return [
        {
            "scope": b.scope,
            "class_id": b.class_id,
            "reason": b.reason,
            "blocked_at": _iso(b.created_at),
            "expires_at": _iso(b.expires_at),
            "lifted_at": _iso(b.lifted_at),
        }
        for b in rows.scalars()
    ]


SECTIONS: dict[str, Callable[[User], list[dict[str, Any]]]] = {
    "profile": _profile,
    "identities": lambda user: identities.describe(user.id),
    "enrolments": _class_titles,
    "teaching": _staff,
    "attendance": _attendance,
    "chat_messages": _chat,
    "poll_votes": _votes,
    "feedback": _feedback,
    "notifications": _notifications,
    "recordings": _recordings,
    "classroom": _room,
    "blocks": _blocks,
}


@dataclass(frozen=True)
class UserData:
    """Everything held about one user: JSON sections by name, and files to include."""

    sections: dict[str, list[dict[str, Any]]]
    files: list[tuple[str, str]]


def collect(user: User, progress: Callable[[int], None] | None = None) -> UserData:
    """The user's data from the core's tables and every plugin (export_user_data)."""
    sections: dict[str, list[dict[str, Any]]] = {}
    steps = len(SECTIONS) + 2
    for done, (name, read) in enumerate(SECTIONS.items(), start=1):
        sections[name] = read(user)
        if progress:
            progress(int(80 * done / steps))
    sections["uploads"], files = _uploads(user)
    for answer in hook().export_user_data(user=user_info(user)):
        for section in answer or []:
            sections.setdefault(f"plugins/{section.name}", []).extend(section.rows)
    if progress:
        progress(80)
    return UserData(sections=sections, files=files)


def build_zip(data: UserData) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in data.sections.items():
            archive.writestr(f"{name}.json", json.dumps(rows, indent=2, ensure_ascii=False))
        for path, key in data.files:
            try:
                archive.writestr(path, storage.read_bytes(key))
            except NotFound:
                log.warning("export: stored file %s is missing", key)
    return buffer.getvalue()


# The background job ---------------------------------------------------------------------


def _may_export(actor: User, user_id: int) -> User:
    """One's own data, or anyone's for an administrator; others' ids do not leak (404)."""
    user = db.session.get(User, user_id)
    if user is None or (user.id != actor.id and not actor.is_admin):
        raise NotFound("no such user")
    return user


def request_export(actor: User, user_id: int, reason: str = "") -> ExportJob:
    """Queue an export of `user_id`'s data: the user's own, or any user's for an
    administrator (e.g. a parent's request). Audit-logged; prepared in the background."""
    from portal import tasks

    user = _may_export(actor, user_id)
    job = ExportJob(user_id=user.id, requested_by=actor.id, status="queued", percent=0)
    db.session.add(job)
    db.session.flush()
    audit.record(actor, access_log.EXPORT, "user", user.id, job_id=job.id, reason=reason[:200])
    unit_of_work.after_commit(lambda: tasks.enqueue_job(JOB))
    return job


def get_job(actor: User, job_id: int) -> ExportJob:
    job = db.session.get(ExportJob, job_id)
    if job is None or (job.user_id != actor.id and not actor.is_admin):
        raise NotFound(_("no such export"))
    return job


def latest_job(user: User) -> ExportJob | None:
    return db.session.execute(
        db.select(ExportJob)
        .where(ExportJob.user_id == user.id, ExportJob.requested_by == user.id)
        .order_by(ExportJob.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def download_link(job: ExportJob) -> str | None:
    """The zip's signed, time-limited link once ready."""
    if job.status != "ready" or not job.storage_key:
        return None
    name = f"portal-data-{job.user_id}-{job.created_at:%Y%m%d}.zip"
    return storage.public_url(job.storage_key, LINK_SECONDS, name)


def run_pending() -> int:
    """Prepare the queued exports (the "privacy-exports" job); how many were made."""
    done = 0
    ids = list(
        db.session.execute(
            db.select(ExportJob.id)
            .where(ExportJob.status == "queued")
            .order_by(ExportJob.id)
            .limit(MAX_PER_RUN)
        ).scalars()
    )
    for job_id in ids:
        if _publish(job_id, "queued", status="running", percent=1):
            _prepare(job_id)
            done += 1
    return done


def _publish(job_id: int, expected: str, **values: Any) -> bool:
    """Move an export job on from status `expected`; False when someone else did."""
    changed = rows_matched(
        db.session.execute(
            db.update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.status == expected)
            .values(**values)
        )
    )
    # An atomic claim: the job's state is read by another process (the profile page asking
    # for progress; a second runner must not build the same export) while this one works.
    db.session.commit()
    return bool(changed)


def _progress(job_id: int, percent: int) -> None:
    _publish(job_id, "running", percent=percent)


def _prepare(job_id: int) -> None:
    job = db.session.get(ExportJob, job_id)
    user = db.session.get(User, job.user_id) if job else None
    if user is None:
        return
    try:
        data = collect(user, lambda percent: _progress(job_id, percent))
        key = storage.new_key(f"exports/{user.id}", "zip")
        storage.get_storage().save(key, build_zip(data), "application/zip")
    except Exception as exc:
        db.session.rollback()
        log.exception("export %s failed", job_id)
        _publish(job_id, "running", status="failed", error=str(exc)[:500], finished_at=utcnow())
        return
    _publish(job_id, "running", status="ready", percent=100, storage_key=key, finished_at=utcnow())


def purge_expired(now: datetime) -> int:
    """Delete ready or failed exports older than EXPORT_KEEP, and their zips."""
    rows = list(
        db.session.execute(
            db.select(ExportJob).where(
                ExportJob.status.in_(("ready", "failed")),
                ExportJob.created_at < now - EXPORT_KEEP,
            )
        ).scalars()
    )
    for row in rows:
        storage.delete_row_and_file(row, row.storage_key)
    return len(rows)
