"""What admins see of notification delivery: the failures, why, and a way to send again.

A reminder that never reached a student is invisible to the student by nature, so the
portal must show it to someone who can act: the admin fixes the SMTP or Twilio settings
(or the student's address) and sends the failed rows again from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from portal.core import access, audit
from portal.core import notifications as notes
from portal.core.errors import Conflict, NotFound
from portal.core.models import Class, Notification, Schedule, User
from portal.core.notifications import NotificationKind, NotificationStatus
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

STATUSES = tuple(NotificationStatus)
RECENT = timedelta(days=7)


@dataclass(frozen=True)
class DeliveryRow:
    notification: Notification
    user_name: str
    address: str | None
    class_id: int | None
    class_title: str | None
    starts_at: datetime | None


def list_deliveries(
    actor: User,
    *,
    status: str | None = NotificationStatus.FAILED,
    channel: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DeliveryRow], int]:
    """Notifications of every user, newest first, with who and which class they were for."""
    access.require_admin(actor)
    stmt = (
        sa.select(
            Notification,
            User.name,
            User.email,
            User.phone,
            Class.id,
            Class.title,
            Schedule.starts_at,
        )
        .join(User, User.id == Notification.user_id)
        .outerjoin(Schedule, Schedule.id == Notification.schedule_id)
        .outerjoin(Class, Class.id == Schedule.class_id)
    )
    if status:
        stmt = stmt.where(Notification.status == status)
    if channel:
        stmt = stmt.where(Notification.channel == channel)
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(stmt.with_only_columns(Notification.id).subquery())
    ).scalar_one()
    rows = db.session.execute(
        stmt.order_by(Notification.due_at.desc(), Notification.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        DeliveryRow(
            notification=n,
            user_name=name,
            address=phone if n.channel == "sms" else email,
            class_id=class_id,
            class_title=title,
            starts_at=starts_at,
        )
        for n, name, email, phone, class_id, title, starts_at in rows
    ], total


def status_counts(actor: User, since: datetime | None = None) -> dict[str, int]:
    """How many notifications are in each status, among those due since `since` (a week)."""
    access.require_admin(actor)
    since = since or utcnow() - RECENT
    counted = dict(
        db.session.execute(
            sa.select(Notification.status, sa.func.count())
            .where(Notification.due_at >= since)
            .group_by(Notification.status)
        ).all()
    )
    return {status: int(counted.get(status, 0)) for status in STATUSES}


def retry_delivery(actor: User, notification_id: int) -> Notification:
    """Queue a failed row again, now, with a fresh set of attempts.

    Refused when the message would be pointless (the class is over, the student left or
    turned the channel off): sending it would only confuse, and the reason says why.
    """
    access.require_admin(actor)
    row = db.session.get(Notification, notification_id)
    if row is None:
        raise NotFound("no such notification", code="notification_not_found")
    if row.status != NotificationStatus.FAILED:
        raise Conflict(
            gettext(
                "only a failed notification can be sent again; this one is %(status)s",
                status=row.status,
            ),
            code="notification_not_failed",
        )
    now = utcnow()
    reason = notes.unwanted_reason(row, now)
    if reason is not None:
        raise Conflict(
            gettext("not sent again: %(reason)s", reason=reason), code="notification_not_wanted"
        )
    previous_error = row.error
    row.status, row.attempts, row.error, row.claimed_at = NotificationStatus.PENDING, 0, None, None
    schedule = db.session.get(Schedule, row.schedule_id) if row.schedule_id else None
    if row.kind == NotificationKind.REMINDER and row.key.isdigit() and schedule is not None:
        # Back to its own due time (already past): a reminder's due time is how the
        # portal later recognises that its class moved.
        row.due_at = schedule.starts_at - timedelta(minutes=int(row.key))
    else:
        row.due_at = min(row.due_at, now)
    audit.record(actor, "notification.retry", "notification", row.id, previous_error=previous_error)
    return row
