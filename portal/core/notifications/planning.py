"""Planning: which rows should exist. Who gets which reminder or notice, on which channel,
and when; rows are created, moved and cancelled here, never sent."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from portal.core import access
from portal.core.models import (
    Class,
    ClassStatus,
    Enrolment,
    Notification,
    Schedule,
    ScheduleStatus,
    User,
)
from portal.core.notifications.channels import registered_channels, wants
from portal.core.notifications.states import REMINDER_GRACE
from portal.core.notifications.states import NotificationKind as Kind
from portal.core.notifications.states import NotificationStatus as Status
from portal.core.types import utcnow
from portal.core.upsert import insert_with_conflicts, rows_matched
from portal.extensions import db


def recipients(klass: Class, user_ids: Iterable[int] | None = None) -> list[User]:
    """Enrolled, active students of the class who are not blocked site-wide or here."""
    blocked = access.blocked_user_ids(klass.id)
    stmt = (
        sa.select(User)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(Enrolment.class_id == klass.id, User.is_active.is_(True), User.id.not_in(blocked))
        .order_by(User.id)
    )
    if user_ids is not None:
        stmt = stmt.where(User.id.in_(list(user_ids)))
    return list(db.session.execute(stmt).scalars())


def channels_for(klass: Class, user: User) -> list[str]:
    return [
        c for c in (klass.reminder_channels or []) if c in registered_channels() and wants(user, c)
    ]


# The columns of a planned row (insert_ignoring_duplicates); the rest start as pending.
_PLANNED = ("user_id", "schedule_id", "kind", "channel", "key", "due_at")


def insert_ignoring_duplicates(rows: list[dict[str, Any]]) -> None:
    """Insert notification rows (user_id, schedule_id, kind, channel, due_at, and key or "");
    a row that already exists (same unique key) is left alone. One prebuilt statement sent
    as an executemany: a class start queues a notice per student, and a multi-row VALUES
    built, compiled and parsed anew for every list cost a start more CPU than everything
    else it does."""
    if not rows:
        return
    now = utcnow()
    db.session.execute(
        _insert_statement(db.session.get_bind().dialect.name),
        [
            {"key": "", **row, "status": Status.PENDING, "attempts": 0, "created_at": now}
            for row in rows
        ],
    )


@functools.lru_cache(maxsize=4)
def _insert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING of one planned row, its values bind parameters
    (`dialect` keys the cache: the statement is that database's own)."""
    table = Notification.__table__
    columns = (*_PLANNED, "status", "attempts", "created_at")
    return (
        insert_with_conflicts(table, dialect=dialect)
        .values({name: db.bindparam(name, type_=table.c[name].type) for name in columns})
        .on_conflict_do_nothing()
    )


def schedule_live(schedule: Schedule) -> bool:
    return (
        schedule.status == ScheduleStatus.SCHEDULED.value
        and schedule.klass.status == ClassStatus.ACTIVE.value
    )


def sync_schedule(
    schedule: Schedule, user_ids: Iterable[int] | None = None, *, reason: str = "no longer wanted"
) -> None:
    """Make the reminder rows of one occurrence match the class, its students and their
    preferences: create missing rows, move due times, cancel rows nobody wants any more.

    Rows already sent (or in flight) are never touched: a reminder goes out at most once.
    Offsets whose time has passed are skipped, except the one closest to the start, so a
    student enrolled ten minutes before class still gets one reminder.
    """
    sync_schedules([schedule], user_ids, reason=reason)


def sync_schedules(
    schedules: list[Schedule],
    user_ids: Iterable[int] | None = None,
    *,
    reason: str = "no longer wanted",
) -> None:
    """`sync_schedule` for several occurrences of one class in a fixed number of queries
    (enrolling a student in a long series must not cost queries per occurrence)."""
    if not schedules:
        return
    klass = schedules[0].klass
    now = utcnow()
    only = set(user_ids) if user_ids is not None else None
    offsets = sorted({int(o) for o in (klass.reminder_offsets or [])}, reverse=True)
    people = [(user.id, channels_for(klass, user)) for user in recipients(klass, only)]
    wanted: dict[tuple[int | None, int, str, str], datetime] = {}
    for schedule in schedules:
        start = schedule.starts_at
        if not (schedule_live(schedule) and start + REMINDER_GRACE > now):
            continue
        dues = [(o, start - timedelta(minutes=o)) for o in offsets]
        chosen = [(o, d) for o, d in dues if d > now] + [(o, d) for o, d in dues if d <= now][-1:]
        for user_id, channels in people:
            for channel in channels:
                for offset, due in chosen:
                    wanted[(schedule.id, user_id, channel, str(offset))] = due
    stmt = sa.select(Notification).where(
        Notification.schedule_id.in_([s.id for s in schedules]), Notification.kind == Kind.REMINDER
    )
    if only is not None:
        stmt = stmt.where(Notification.user_id.in_(only))
    for row in db.session.execute(stmt).scalars():
        still_due = wanted.pop((row.schedule_id, row.user_id, row.channel, row.key), None)
        if row.status in (Status.SENT, Status.SENDING, Status.FAILED):
            continue
        if still_due is not None:
            row.due_at = still_due
            if row.status == Status.CANCELLED:
                row.status, row.error = Status.PENDING, None
        elif row.status in (Status.PENDING, Status.CLAIMED):
            row.status, row.error = Status.CANCELLED, reason
    insert_ignoring_duplicates(
        [
            {
                "user_id": uid,
                "schedule_id": sid,
                "kind": Kind.REMINDER,
                "channel": channel,
                "key": key,
                "due_at": due,
            }
            for (sid, uid, channel, key), due in wanted.items()
        ]
    )


def queue_notice(
    kind: str,
    schedule: Schedule | None,
    klass: Class,
    key: str = "",
    *,
    due_at: datetime | None = None,
) -> int:
    """Queue a one-off notice (class started, cancelled, moved, recording) for every
    student of the class on the class's channels. Idempotent per (kind, schedule, key)."""
    due = due_at or utcnow()
    rows = [
        {
            "user_id": user.id,
            "schedule_id": schedule.id if schedule else None,
            "kind": kind,
            "channel": channel,
            "key": key,
            "due_at": due,
        }
        for user in recipients(klass)
        for channel in channels_for(klass, user)
    ]
    if schedule is None:
        # NULL never equals NULL in a unique index: deduplicate by hand.
        existing = set(
            db.session.execute(
                sa.select(Notification.user_id, Notification.channel).where(
                    Notification.kind == kind,
                    Notification.key == key,
                    Notification.schedule_id.is_(None),
                )
            ).all()
        )
        rows = [r for r in rows if (r["user_id"], r["channel"]) not in existing]
    insert_ignoring_duplicates(rows)
    return len(rows)


def cancel_pending(
    *,
    reason: str,
    schedule_ids: Iterable[int] | None = None,
    class_id: int | None = None,
    user_id: int | None = None,
    kinds: Iterable[str] | None = None,
) -> int:
    """Cancel rows that have not gone out yet (pending, or claimed but not sending)."""
    stmt = sa.update(Notification).where(Notification.status.in_((Status.PENDING, Status.CLAIMED)))
    if schedule_ids is not None:
        stmt = stmt.where(Notification.schedule_id.in_(list(schedule_ids)))
    if class_id is not None:
        stmt = stmt.where(
            Notification.schedule_id.in_(
                sa.select(Schedule.id).where(Schedule.class_id == class_id)
            )
        )
    if user_id is not None:
        stmt = stmt.where(Notification.user_id == user_id)
    if kinds is not None:
        stmt = stmt.where(Notification.kind.in_(list(kinds)))
    result = db.session.execute(
        stmt.values(status=Status.CANCELLED, error=reason[:1000]).execution_options(
            synchronize_session=False
        )
    )
    db.session.expire_all()
    return rows_matched(result)


def upcoming_occurrences(class_id: int) -> list[Schedule]:
    return list(
        db.session.execute(
            sa.select(Schedule)
            .where(
                Schedule.class_id == class_id,
                Schedule.ends_at > utcnow(),
                Schedule.status == ScheduleStatus.SCHEDULED.value,
            )
            .order_by(Schedule.starts_at)
        ).scalars()
    )


def sync_user(user: User) -> None:
    """The user changed their channel choices: plan the reminders of every class they are
    enrolled in again (rows for a channel turned on, cancelled rows for one turned off)."""
    class_ids = db.session.execute(
        sa.select(Enrolment.class_id).where(Enrolment.user_id == user.id)
    ).scalars()
    for class_id in class_ids.all():
        sync_schedules(upcoming_occurrences(class_id), [user.id], reason="turned off by the user")


def move_key(schedule: Schedule) -> str:
    """The `key` of a "moved" notice: the new start, so each move is announced once."""
    return schedule.starts_at.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%MZ")


def list_for_user(user: User, limit: int = 50) -> list[Notification]:
    return list(
        db.session.execute(
            sa.select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.due_at.desc(), Notification.id.desc())
            .limit(limit)
        ).scalars()
    )
