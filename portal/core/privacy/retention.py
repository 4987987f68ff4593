"""How long the portal keeps what a class leaves behind, and the one periodic job that
deletes it ("privacy-retention", on Celery beat and the in-process scheduler alike).

The policy is site-wide (the portal has no class types): for each kind, the number of days
after the class occurrence ended that its rows are kept, or None to keep them. A row that
belongs to no occurrence counts from its class's last occurrence (uploads for the whole
class) or from its own creation (a notification about no occurrence). Recordings of a class
on legal hold are never deleted. What the job deleted goes to the audit log as counts."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.core import access, audit, clock, storage
from portal.core.errors import PortalError, ValidationFailed
from portal.core.models import (
    Attendance,
    ChatMessage,
    Class,
    Media,
    Meeting,
    Notification,
    Recording,
    Schedule,
    User,
)
from portal.core.privacy import access_log, export
from portal.core.settings import get_setting, set_setting
from portal.core.upsert import rows_matched
from portal.extensions import db
from portal.i18n import _

log = logging.getLogger(__name__)

JOB = "privacy-retention"
KINDS = ("chat", "uploads", "recordings", "attendance", "notifications")
MAX_DAYS = 36500


@dataclass(frozen=True)
class RetentionPolicy:
    """Days kept after the class occurrence ended; None keeps for ever (the default)."""

    chat: int | None = None
    uploads: int | None = None
    recordings: int | None = None
    attendance: int | None = None
    notifications: int | None = None


def read_policy() -> RetentionPolicy:
    stored = get_setting("retention") or {}
    return RetentionPolicy(**{k: stored.get(k) for k in KINDS})


def update_policy(actor: User, changes: dict[str, int | None]) -> RetentionPolicy:
    """Set some periods (administrators); a kind not named keeps its period."""
    access.require_admin(actor)
    unknown = set(changes) - set(KINDS)
    if unknown:
        raise ValidationFailed(
            _("unknown retention kind: %(kinds)s", kinds=", ".join(sorted(unknown))),
            code="invalid_retention",
        )
    merged = {**asdict(read_policy()), **changes}
    for kind, days in merged.items():
        if days is not None and (not isinstance(days, int) or not 1 <= days <= MAX_DAYS):
            raise ValidationFailed(
                _(
                    "%(kind)s: keep for 1 to %(days)d days, or empty to keep for ever",
                    kind=kind,
                    days=MAX_DAYS,
                ),
                code="invalid_retention",
            )
    set_setting("retention", merged)
    audit.record(actor, "privacy.retention_policy", "site", "retention", **merged)
    return RetentionPolicy(**merged)


def set_legal_hold(actor: User, class_id: int, on: bool) -> Class:
    """Keep (or stop keeping) a class's recordings whatever the retention (administrators)."""
    klass = access.get_class_for(actor, class_id)  # 404 outside the class
    access.require_admin(actor)
    if klass.recordings_legal_hold != on:
        klass.recordings_legal_hold = on
        audit.record(actor, access_log.LEGAL_HOLD, "class", klass.id, on=on)
    return klass


def _class_end() -> Any:
    """class id -> when its last occurrence ends (a correlated scalar subquery)."""
    return (
        db.select(db.func.max(Schedule.ends_at))
        .where(Schedule.class_id == Media.class_id)
        .scalar_subquery()
    )


def _ended_before(cutoff: datetime) -> Any:
    return db.select(Schedule.id).where(Schedule.ends_at < cutoff)


def _delete_chat(cutoff: datetime) -> int:
    result = db.session.execute(
        db.delete(ChatMessage).where(ChatMessage.schedule_id.in_(_ended_before(cutoff)))
    )
    return rows_matched(result)


def _delete_attendance(cutoff: datetime) -> int:
    meetings = db.select(Meeting.id).where(Meeting.schedule_id.in_(_ended_before(cutoff)))
    result = db.session.execute(db.delete(Attendance).where(Attendance.meeting_id.in_(meetings)))
    return rows_matched(result)


def _delete_notifications(cutoff: datetime) -> int:
    result = db.session.execute(
        db.delete(Notification).where(
            db.or_(
                Notification.schedule_id.in_(_ended_before(cutoff)),
                db.and_(Notification.schedule_id.is_(None), Notification.created_at < cutoff),
            ),
            # A message not yet handed to its provider is not a log entry yet.
            Notification.status.in_(("sent", "failed", "cancelled")),
        )
    )
    return rows_matched(result)


def _delete_uploads(cutoff: datetime) -> int:
    rows = list(
        db.session.execute(
            db.select(Media).where(
                db.or_(
                    Media.schedule_id.in_(_ended_before(cutoff)),
                    db.and_(Media.schedule_id.is_(None), _class_end() < cutoff),
                )
            )
        ).scalars()
    )
    for row in rows:
        storage.delete_row_and_file(row, row.storage_key)
    return len(rows)


def _delete_recordings(cutoff: datetime) -> tuple[int, int]:
    """(deleted, failed): a backend that cannot delete now is asked again next run."""
    from portal.core.recordings import purge

    ended_meetings = db.select(Meeting.id).where(Meeting.schedule_id.in_(_ended_before(cutoff)))
    held = db.select(Class.id).where(Class.recordings_legal_hold.is_(True))
    rows = list(
        db.session.execute(
            db.select(Recording).where(
                Recording.class_id.not_in(held),
                db.or_(
                    Recording.meeting_id.in_(ended_meetings),
                    db.and_(
                        Recording.meeting_id.is_(None),
                        db.func.coalesce(Recording.recorded_at, Recording.created_at) < cutoff,
                    ),
                ),
            )
        ).scalars()
    )
    deleted = failed = 0
    for row in rows:
        try:
            with db.session.begin_nested():
                purge(row)
            deleted += 1
        except PortalError:
            log.warning("retention: recording %s could not be deleted on its backend", row.id)
            failed += 1
    return deleted, failed


def apply(now: datetime | None = None) -> dict[str, int]:
    """Delete what the policy no longer keeps (the "privacy-retention" job); the counts.
    Does not commit (run_job does); stored files go after the commit."""
    now = now or clock.now()
    rules = read_policy()
    counts: dict[str, int] = {}

    def cutoff(days: int) -> datetime:
        return now - timedelta(days=days)

    if rules.chat is not None:
        counts["chat"] = _delete_chat(cutoff(rules.chat))
    if rules.attendance is not None:
        counts["attendance"] = _delete_attendance(cutoff(rules.attendance))
    if rules.notifications is not None:
        counts["notifications"] = _delete_notifications(cutoff(rules.notifications))
    if rules.uploads is not None:
        counts["uploads"] = _delete_uploads(cutoff(rules.uploads))
    if rules.recordings is not None:
        counts["recordings"], failed = _delete_recordings(cutoff(rules.recordings))
        if failed:
            counts["recordings_failed"] = failed
    counts["exports"] = export.purge_expired(now)
    if any(counts.values()):
        audit.record(None, access_log.RETENTION, "site", "retention", **counts)
    return counts


def run() -> None:
    apply()
