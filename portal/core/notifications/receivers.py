"""Signal receivers: the core's changes (a class scheduled, moved or cancelled, a student
enrolled or blocked, a meeting started, a recording stored) turned into planning. They run
inside the caller's transaction and never commit."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from portal.core import signals
from portal.core.models import (
    BlockedUser,
    Class,
    ClassStatus,
    Enrolment,
    Meeting,
    Notification,
    Recording,
    Schedule,
    User,
)
from portal.core.notifications.planning import (
    cancel_pending,
    channels_for,
    insert_ignoring_duplicates,
    move_key,
    queue_notice,
    recipients,
    schedule_live,
    sync_schedule,
    sync_schedules,
    upcoming_occurrences,
)
from portal.core.notifications.states import NotificationKind as Kind
from portal.core.notifications.states import NotificationStatus as Status
from portal.core.types import utcnow
from portal.extensions import db


def _start_changed(schedule: Schedule) -> bool:
    """Did this occurrence's start time really change (not just its reminder settings)?"""
    history = sa.inspect(schedule).attrs.starts_at.history
    if (
        history.deleted
        and history.deleted[0] is not None
        and history.deleted[0] != schedule.starts_at
    ):
        return True
    # After an autoflush the attribute history is gone: compare with the reminder rows.
    rows = db.session.execute(
        sa.select(Notification.key, Notification.due_at)
        .where(
            # A row waiting for a retry has a shifted due time: it says nothing about a move.
            Notification.schedule_id == schedule.id,
            Notification.kind == Kind.REMINDER,
            Notification.attempts == 0,
        )
        .limit(50)
    ).all()
    for key, due in rows:
        if key.isdigit() and due + timedelta(minutes=int(key)) != schedule.starts_at:
            return True
    return False


def on_schedule_changed(schedule: Schedule, change: str = "", **_: Any) -> None:
    if change in ("created", "restored"):
        sync_schedule(schedule)
    elif change == "moved":
        moved = _start_changed(schedule)
        sync_schedule(schedule)
        if (
            moved
            and schedule_live(schedule)
            and schedule.ends_at > utcnow()
            and _first_move_in_transaction(schedule)
        ):
            queue_notice(Kind.CLASS_MOVED, schedule, schedule.klass, move_key(schedule))
    elif change == "cancelled":
        cancel_pending(reason="the class was cancelled", schedule_ids=[schedule.id])
        if schedule.ends_at <= utcnow():
            return
        klass = schedule.klass
        if klass.status == ClassStatus.CANCELLED.value:
            # The whole series was cancelled: one notice (on its next occurrence), not one
            # per occurrence.
            first = db.session.execute(
                sa.select(Schedule.id)
                .where(Schedule.class_id == klass.id, Schedule.ends_at > utcnow())
                .order_by(Schedule.starts_at)
                .limit(1)
            ).scalar_one_or_none()
            if first == schedule.id:
                queue_notice(Kind.CLASS_CANCELLED, schedule, klass, "class")
        else:
            queue_notice(Kind.CLASS_CANCELLED, schedule, klass)


def _first_move_in_transaction(schedule: Schedule) -> bool:
    """A change that moves many occurrences at once (a series' new time) sends one notice,
    on the first occurrence signalled, not one per occurrence."""
    transaction = db.session().get_transaction()
    seen = db.session.info.setdefault("portal.notified_moves", {})
    if seen.get(schedule.class_id) is transaction:
        return False
    seen[schedule.class_id] = transaction
    return True


def on_enrolment_changed(klass: Class, users: list[User], enrolled: bool, **_: Any) -> None:
    """Plan (or cancel) the reminders and invitations of everyone one change enrolled (or
    removed), in a fixed number of queries however many they are."""
    user_ids = [user.id for user in users]
    if not enrolled:
        for user_id in user_ids:
            cancel_pending(reason="the student left the class", class_id=klass.id, user_id=user_id)
        return
    upcoming = upcoming_occurrences(klass.id)
    sync_schedules(upcoming, user_ids)
    if not upcoming:
        return
    invited = [
        user.id for user in recipients(klass, user_ids) if "email" in channels_for(klass, user)
    ]
    if not invited:
        return
    # The invitation hangs on the next occurrence; key "" makes it once per enrolment there.
    invitation = {
        "schedule_id": upcoming[0].id,
        "kind": Kind.CLASS_INVITATION,
        "channel": "email",
        "key": "",
    }
    insert_ignoring_duplicates(
        [{**invitation, "user_id": user_id, "due_at": utcnow()} for user_id in invited]
    )
    # Left and came back before it went out: the cancelled invitation is due again.
    db.session.execute(
        sa.update(Notification)
        .filter_by(**invitation, status=Status.CANCELLED)
        .where(Notification.user_id.in_(invited))
        .values(status=Status.PENDING, error=None, due_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def on_block_changed(block: BlockedUser, blocked: bool, **_: Any) -> None:
    if blocked:
        cancel_pending(
            reason="the user is blocked",
            user_id=block.user_id,
            class_id=block.class_id if block.scope == "class" else None,
        )
        return
    class_ids = (
        [block.class_id]
        if block.scope == "class"
        else list(
            db.session.execute(
                sa.select(Enrolment.class_id).where(Enrolment.user_id == block.user_id)
            ).scalars()
        )
    )
    for class_id in class_ids:
        if class_id is not None:  # a class-scope block always names its class
            sync_schedules(upcoming_occurrences(class_id), [block.user_id])


def on_meeting_changed(meeting: Meeting, event: str = "", **_: Any) -> None:
    if event == "started":
        schedule = meeting.schedule
        queue_notice(Kind.CLASS_STARTED, schedule, schedule.klass)


def on_recording_stored(recording: Recording, **_: Any) -> None:
    if not recording.published:
        return
    klass = db.session.get_one(Class, recording.class_id)
    meeting = db.session.get(Meeting, recording.meeting_id) if recording.meeting_id else None
    schedule = meeting.schedule if meeting else None
    queue_notice(Kind.RECORDING_AVAILABLE, schedule, klass, str(recording.id))


_connected = False
_connect_lock = threading.Lock()


def connect_signals() -> None:
    """Subscribe to the core signals once per process (blinker signals are global)."""
    global _connected
    with _connect_lock:
        if _connected:
            return
        signals.schedule_changed.connect(on_schedule_changed, weak=False)
        signals.enrolment_changed.connect(on_enrolment_changed, weak=False)
        signals.block_changed.connect(on_block_changed, weak=False)
        signals.meeting_changed.connect(on_meeting_changed, weak=False)
        signals.recording_stored.connect(on_recording_stored, weak=False)
        _connected = True
