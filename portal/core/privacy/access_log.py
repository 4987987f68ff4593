"""Who looked: reads of someone else's contact data, data exports, attendance CSVs and
recording downloads go to the audit log (who, when, what, whose), and administrators list
them with filters. Entries name people by id only, so an erasure leaves nothing to scrub."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.core import access, audit
from portal.core.models import AuditLog, User
from portal.extensions import db

CONTACT_READ = "privacy.contact_read"
EXPORT = "privacy.export"
ERASURE = "privacy.erasure"
RETENTION = "privacy.retention"
ATTENDANCE_CSV = "privacy.attendance_csv"
RECORDING_DOWNLOAD = "privacy.recording_download"
LEGAL_HOLD = "privacy.legal_hold"


def contact_read(actor: User, subjects: Iterable[User], shown: str = "email") -> None:
    """`actor` was shown the contact data of `subjects` (their own is not logged)."""
    for subject in subjects:
        if subject.id != actor.id:
            audit.record(actor, CONTACT_READ, "user", subject.id, shown=shown)


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]


def list_entries(
    actor: User, filters: AuditFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """The audit log, newest first (administrators only)."""
    access.require_admin(actor)
    stmt = db.select(AuditLog, User.name).outerjoin(User, User.id == AuditLog.actor_id)
    if filters.actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == filters.actor_id)
    if filters.subject_type:
        stmt = stmt.where(AuditLog.target_type == filters.subject_type)
    if filters.subject_id:
        stmt = stmt.where(AuditLog.target_id == str(filters.subject_id))
    if filters.action:
        stmt = stmt.where(AuditLog.action.like(f"{filters.action}%"))
    if filters.since is not None:
        stmt = stmt.where(AuditLog.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditLog.created_at < filters.until)
    total = db.session.execute(db.select(db.func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(
        stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    ).all()
    entries = [
        AuditEntry(
            id=row.id,
            created_at=row.created_at,
            actor_id=row.actor_id,
            actor_name=name,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            details=dict(row.details or {}),
        )
        for row, name in rows
    ]
    return entries, total
