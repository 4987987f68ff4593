"""Notifications: class reminders and "class started / cancelled / moved / recording" notices.

Life of a row in the `notifications` table (one per recipient x channel x reminder):

    pending --claim--> claimed --deliver--> sending --provider answered--> sent | failed
    pending|claimed --class cancelled, student left/blocked, preference off--> cancelled

Rows are created by receivers of the core's blinker signals (a class scheduled, moved or
cancelled, a student enrolled or blocked, a meeting started, a recording stored), so the
table always says what should go out and when. `dispatch_due()` claims the rows that are
due atomically (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED; SQLite: one conditional
UPDATE) and hands each to `deliver()`, either through one Celery task per row (production)
or inline (embedded default): the very same code path.

At most once: a row moves claimed -> sending in one conditional UPDATE right before the
provider call, and only the process that made that transition calls the provider. A row
whose worker died while 'claimed' is re-claimed after the lease; a row whose worker died
while 'sending' (the provider may or may not have the message) is never resent: it is
marked failed with an explicit "state unknown" error instead of risking a duplicate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer

from portal.core import signals
from portal.core.errors import NotFound, ValidationFailed
from portal.core.models import (
    BlockedUser,
    Class,
    ClassStatus,
    Enrolment,
    Meeting,
    Notification,
    Recording,
    Schedule,
    ScheduleStatus,
    User,
)
from portal.core.types import utcnow
from portal.core.upsert import insert_with_conflicts
from portal.extensions import db
from portal.plugins.types import Attachment, DeliveryResult, NotificationMessage, Notifier

log = logging.getLogger(__name__)

# Kinds of notification (the `kind` column).
REMINDER = "reminder"
CLASS_STARTED = "class_started"
CLASS_CANCELLED = "class_cancelled"
CLASS_MOVED = "class_moved"
RECORDING_AVAILABLE = "recording_available"
CLASS_INVITATION = "class_invitation"  # on enrolment, email only, with every upcoming occurrence
KINDS = (REMINDER, CLASS_STARTED, CLASS_CANCELLED, CLASS_MOVED, RECORDING_AVAILABLE, CLASS_INVITATION)

# Statuses (the `status` column).
PENDING = "pending"
CLAIMED = "claimed"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"

CHANNELS = ("email", "sms")
# A reminder may still go out this long after the class started (offset 0 = "starting now").
REMINDER_GRACE = timedelta(minutes=5)
# A claimed row whose due time was moved more than this into the future goes back to pending.
EARLY_SLACK = timedelta(seconds=60)
UNKNOWN_STATE_ERROR = (
    "the worker stopped during the provider call; not resent, to never send twice"
)

DEFAULTS: dict[str, Any] = {
    "NOTIFY_SCAN_SECONDS": 60,
    "NOTIFY_LEASE_SECONDS": 600,
    "NOTIFY_BATCH_SIZE": 500,
    "NOTIFY_TASK_CHUNK": 10,  # rows per Celery send task
    "NOTIFY_MAX_ATTEMPTS": 5,
    "NOTIFY_RETRY_BACKOFF_SECONDS": 30,
    "NOTIFY_RATE_LIMITS": "",  # "smtp=14,twilio=1": messages per second per provider
    "NOTIFY_EMAIL_PROVIDER": None,  # smtp | ses | outbox; None picks the configured one
    "NOTIFY_SMS_PROVIDER": None,  # twilio | outbox
}


def setting(name: str) -> Any:
    value = current_app.config.get(name)
    return DEFAULTS.get(name) if value is None else value


# ---------------------------------------------------------------------------------------
# Who gets what


def recipients(klass: Class, user_ids: Iterable[int] | None = None) -> list[User]:
    """Enrolled, active students of the class who are not blocked site-wide or here."""
    now = utcnow()
    blocked = (
        sa.select(BlockedUser.user_id)
        .where(
            BlockedUser.lifted_at.is_(None),
            sa.or_(BlockedUser.expires_at.is_(None), BlockedUser.expires_at > now),
            sa.or_(BlockedUser.scope == "site", BlockedUser.class_id == klass.id),
        )
    )
    stmt = (
        sa.select(User)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(Enrolment.class_id == klass.id, User.is_active.is_(True), User.id.not_in(blocked))
        .order_by(User.id)
    )
    if user_ids is not None:
        stmt = stmt.where(User.id.in_(list(user_ids)))
    return list(db.session.execute(stmt).scalars())


def wants(user: User, channel: str) -> bool:
    """The user's own preference and an address to send to."""
    if channel == "email":
        return bool(user.notify_email and user.email)
    if channel == "sms":
        return bool(user.notify_sms and user.phone)
    return False


def _channels(klass: Class, user: User) -> list[str]:
    return [c for c in (klass.reminder_channels or []) if c in CHANNELS and wants(user, c)]


def _insert_ignoring_duplicates(rows: list[dict[str, Any]]) -> None:
    """Insert notification rows; a row that already exists (same unique key) is left alone."""
    if not rows:
        return
    now = utcnow()
    for start in range(0, len(rows), 1000):
        chunk = [
            {"status": PENDING, "attempts": 0, "created_at": now, "key": "", **row}
            for row in rows[start : start + 1000]
        ]
        db.session.execute(insert_with_conflicts(Notification).values(chunk).on_conflict_do_nothing())


def _schedule_live(schedule: Schedule) -> bool:
    return (
        schedule.status == ScheduleStatus.SCHEDULED.value
        and schedule.klass.status == ClassStatus.ACTIVE.value
    )


def sync_schedule(schedule: Schedule, user_ids: Iterable[int] | None = None, *, reason: str = "no longer wanted") -> None:
    """Make the reminder rows of one occurrence match the class, its students and their
    preferences: create missing rows, move due times, cancel rows nobody wants any more.

    Rows already sent (or in flight) are never touched: a reminder goes out at most once.
    Offsets whose time has passed are skipped, except the one closest to the start, so a
    student enrolled ten minutes before class still gets one reminder.
    """
    sync_schedules([schedule], user_ids, reason=reason)


def sync_schedules(schedules: list[Schedule], user_ids: Iterable[int] | None = None, *, reason: str = "no longer wanted") -> None:
    """`sync_schedule` for several occurrences of one class in a fixed number of queries
    (enrolling a student in a long series must not cost queries per occurrence)."""
    if not schedules:
        return
    klass = schedules[0].klass
    now = utcnow()
    only = set(user_ids) if user_ids is not None else None
    offsets = sorted({int(o) for o in (klass.reminder_offsets or [])}, reverse=True)
    people = [(user.id, _channels(klass, user)) for user in recipients(klass, only)]
    wanted: dict[tuple[int, int, str, str], datetime] = {}
    for schedule in schedules:
        start = schedule.starts_at
        if not (_schedule_live(schedule) and start + REMINDER_GRACE > now):
            continue
        dues = [(o, start - timedelta(minutes=o)) for o in offsets]
        chosen = [(o, d) for o, d in dues if d > now] + [(o, d) for o, d in dues if d <= now][-1:]
        for user_id, channels in people:
            for channel in channels:
                for offset, due in chosen:
                    wanted[(schedule.id, user_id, channel, str(offset))] = due
    stmt = sa.select(Notification).where(
        Notification.schedule_id.in_([s.id for s in schedules]), Notification.kind == REMINDER
    )
    if only is not None:
        stmt = stmt.where(Notification.user_id.in_(only))
    for row in db.session.execute(stmt).scalars():
        due = wanted.pop((row.schedule_id, row.user_id, row.channel, row.key), None)
        if row.status in (SENT, SENDING, FAILED):
            continue
        if due is not None:
            row.due_at = due
            if row.status == CANCELLED:
                row.status, row.error = PENDING, None
        elif row.status in (PENDING, CLAIMED):
            row.status, row.error = CANCELLED, reason
    _insert_ignoring_duplicates(
        [
            {"user_id": uid, "schedule_id": sid, "kind": REMINDER, "channel": channel, "key": key, "due_at": due}
            for (sid, uid, channel, key), due in wanted.items()
        ]
    )


def queue_notice(kind: str, schedule: Schedule | None, klass: Class, key: str = "", *, due_at: datetime | None = None) -> int:
    """Queue a one-off notice (class started, cancelled, moved, recording) for every
    student of the class on the class's channels. Idempotent per (kind, schedule, key)."""
    due = due_at or utcnow()
    rows = [
        {"user_id": user.id, "schedule_id": schedule.id if schedule else None, "kind": kind,
         "channel": channel, "key": key, "due_at": due}
        for user in recipients(klass)
        for channel in _channels(klass, user)
    ]
    if schedule is None:
        # NULL never equals NULL in a unique index: deduplicate by hand.
        existing = set(
            db.session.execute(
                sa.select(Notification.user_id, Notification.channel).where(
                    Notification.kind == kind, Notification.key == key, Notification.schedule_id.is_(None)
                )
            ).all()
        )
        rows = [r for r in rows if (r["user_id"], r["channel"]) not in existing]
    _insert_ignoring_duplicates(rows)
    return len(rows)


def cancel_pending(*, reason: str, schedule_ids: Iterable[int] | None = None, class_id: int | None = None,
                   user_id: int | None = None, kinds: Iterable[str] | None = None) -> int:
    """Cancel rows that have not gone out yet (pending, or claimed but not sending)."""
    stmt = sa.update(Notification).where(Notification.status.in_((PENDING, CLAIMED)))
    if schedule_ids is not None:
        stmt = stmt.where(Notification.schedule_id.in_(list(schedule_ids)))
    if class_id is not None:
        stmt = stmt.where(
            Notification.schedule_id.in_(sa.select(Schedule.id).where(Schedule.class_id == class_id))
        )
    if user_id is not None:
        stmt = stmt.where(Notification.user_id == user_id)
    if kinds is not None:
        stmt = stmt.where(Notification.kind.in_(list(kinds)))
    result = db.session.execute(
        stmt.values(status=CANCELLED, error=reason[:1000]).execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    return result.rowcount or 0


def _upcoming(class_id: int) -> list[Schedule]:
    return list(
        db.session.execute(
            sa.select(Schedule)
            .where(Schedule.class_id == class_id, Schedule.ends_at > utcnow(),
                   Schedule.status == ScheduleStatus.SCHEDULED.value)
            .order_by(Schedule.starts_at)
        ).scalars()
    )


# ---------------------------------------------------------------------------------------
# Signal receivers: they run inside the caller's transaction and never commit.


def _move_key(schedule: Schedule) -> str:
    """The `key` of a "moved" notice: the new start, so each move is announced once."""
    return schedule.starts_at.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%MZ")


def _start_changed(schedule: Schedule) -> bool:
    """Did this occurrence's start time really change (not just its reminder settings)?"""
    history = sa.inspect(schedule).attrs.starts_at.history
    if history.deleted and history.deleted[0] is not None and history.deleted[0] != schedule.starts_at:
        return True
    # After an autoflush the attribute history is gone: compare with the reminder rows.
    rows = db.session.execute(
        sa.select(Notification.key, Notification.due_at).where(
            # A row waiting for a retry has a shifted due time: it says nothing about a move.
            Notification.schedule_id == schedule.id, Notification.kind == REMINDER,
            Notification.attempts == 0,
        ).limit(50)
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
        if moved and _schedule_live(schedule) and schedule.ends_at > utcnow() and _first_move_in_transaction(schedule):
            queue_notice(CLASS_MOVED, schedule, schedule.klass, _move_key(schedule))
    elif change == "cancelled":
        cancel_pending(reason="the class was cancelled", schedule_ids=[schedule.id])
        if schedule.ends_at <= utcnow():
            return
        klass = schedule.klass
        if klass.status == ClassStatus.CANCELLED.value:
            # The whole series was cancelled: one notice (on its next occurrence), not one
            # per occurrence.
            first = db.session.execute(
                sa.select(Schedule.id).where(Schedule.class_id == klass.id, Schedule.ends_at > utcnow())
                .order_by(Schedule.starts_at).limit(1)
            ).scalar_one_or_none()
            if first == schedule.id:
                queue_notice(CLASS_CANCELLED, schedule, klass, "class")
        else:
            queue_notice(CLASS_CANCELLED, schedule, klass)


def _first_move_in_transaction(schedule: Schedule) -> bool:
    """A change that moves many occurrences at once (a series' new time) sends one notice,
    on the first occurrence signalled, not one per occurrence."""
    transaction = db.session().get_transaction()
    seen = db.session.info.setdefault("portal.notified_moves", {})
    if seen.get(schedule.class_id) is transaction:
        return False
    seen[schedule.class_id] = transaction
    return True


def on_enrolment_changed(klass: Class, user: User, enrolled: bool, **_: Any) -> None:
    if enrolled:
        upcoming = _upcoming(klass.id)
        sync_schedules(upcoming, [user.id])
        if upcoming and "email" in _channels(klass, user) and recipients(klass, [user.id]):
            # The invitation hangs on the next occurrence; key "" makes it once per enrolment there.
            invitation = {"user_id": user.id, "schedule_id": upcoming[0].id, "kind": CLASS_INVITATION,
                          "channel": "email", "key": ""}
            _insert_ignoring_duplicates([{**invitation, "due_at": utcnow()}])
            # Left and came back before it went out: the cancelled invitation is due again.
            db.session.execute(
                sa.update(Notification).filter_by(**invitation, status=CANCELLED)
                .values(status=PENDING, error=None, due_at=utcnow()).execution_options(synchronize_session=False)
            )
    else:
        cancel_pending(reason="the student left the class", class_id=klass.id, user_id=user.id)


def on_block_changed(block: BlockedUser, blocked: bool, **_: Any) -> None:
    if blocked:
        cancel_pending(reason="the user is blocked", user_id=block.user_id,
                       class_id=block.class_id if block.scope == "class" else None)
        return
    class_ids = (
        [block.class_id] if block.scope == "class"
        else list(db.session.execute(sa.select(Enrolment.class_id).where(Enrolment.user_id == block.user_id)).scalars())
    )
    for class_id in class_ids:
        sync_schedules(_upcoming(class_id), [block.user_id])


def on_meeting_changed(meeting: Meeting, event: str = "", **_: Any) -> None:
    if event == "started":
        schedule = meeting.schedule
        queue_notice(CLASS_STARTED, schedule, schedule.klass)


def on_recording_stored(recording: Recording, **_: Any) -> None:
    if not recording.published:
        return
    klass = db.session.get(Class, recording.class_id)
    meeting = db.session.get(Meeting, recording.meeting_id) if recording.meeting_id else None
    schedule = meeting.schedule if meeting else None
    queue_notice(RECORDING_AVAILABLE, schedule, klass, str(recording.id))


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


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    connect_signals()


# ---------------------------------------------------------------------------------------
# Claiming


def _lease() -> timedelta:
    return timedelta(seconds=int(setting("NOTIFY_LEASE_SECONDS")))


def claim_due(limit: int | None = None, now: datetime | None = None) -> list[int]:
    """Atomically claim up to `limit` due rows and return their ids (committed).

    Due means pending with due_at <= now, or claimed longer ago than the lease (its worker
    died before sending). Safe with any number of concurrent claimers: PostgreSQL skips rows
    another transaction has locked; SQLite runs the conditional UPDATE as one write.
    """
    now = now or utcnow()
    limit = int(limit or setting("NOTIFY_BATCH_SIZE"))
    cutoff = now - _lease()
    due = sa.or_(
        sa.and_(Notification.status == PENDING, Notification.due_at <= now),
        sa.and_(Notification.status == CLAIMED, Notification.claimed_at < cutoff),
    )
    values = {"status": CLAIMED, "claimed_at": now}
    if db.session.get_bind().dialect.name == "postgresql":
        ids = list(
            db.session.execute(
                sa.select(Notification.id).where(due).order_by(Notification.due_at, Notification.id)
                .limit(limit).with_for_update(skip_locked=True)
            ).scalars()
        )
        if ids:
            db.session.execute(
                sa.update(Notification).where(Notification.id.in_(ids)).values(**values)
                .execution_options(synchronize_session=False)
            )
    else:
        candidates = (
            sa.select(Notification.id).where(due).order_by(Notification.due_at, Notification.id)
            .limit(limit).scalar_subquery()
        )
        ids = list(
            db.session.execute(
                sa.update(Notification).where(Notification.id.in_(candidates), due).values(**values)
                .returning(Notification.id).execution_options(synchronize_session=False)
            ).scalars()
        )
    # Rows stuck in 'sending' past the lease: the provider may have the message. Never resend.
    db.session.execute(
        sa.update(Notification)
        .where(Notification.status == SENDING, Notification.claimed_at < cutoff)
        .values(status=FAILED, error=UNKNOWN_STATE_ERROR)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return ids


FanOut = Callable[[list[int]], None]


def _celery_fan_out() -> FanOut | None:
    celery_app = current_app.extensions.get("celery")
    if celery_app is None or str(celery_app.conf.broker_url).startswith("memory"):
        return None
    task = celery_app.tasks.get("portal.notifications.send_many")
    if task is None:
        return None
    return lambda notification_ids: task.apply_async((notification_ids,))


def _chunks(ids: list[int]) -> list[list[int]]:
    """Up to NOTIFY_TASK_CHUNK rows per task, but at least ~8 tasks for a batch that allows
    it, so every worker process gets a share of a class's reminders."""
    size = max(1, min(int(setting("NOTIFY_TASK_CHUNK")), len(ids) // 8))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def dispatch_due(now: datetime | None = None, fan_out: FanOut | None = None, max_batches: int = 1000) -> int:
    """The periodic job: claim everything due and deliver it, a few rows per Celery task
    when a broker is configured, inline otherwise. Returns how many rows were claimed."""
    send = fan_out or _celery_fan_out()
    total = 0
    batch = int(setting("NOTIFY_BATCH_SIZE"))
    for _ in range(max_batches):
        ids = claim_due(batch, now)
        total += len(ids)
        if send is not None:
            for chunk in _chunks(ids):
                send(chunk)
        else:
            for notification_id, outcome in deliver_each(ids, inline=True):
                if outcome.action == "retry":
                    log.info("notification %s will be retried", notification_id)
        if len(ids) < batch:
            break
    return total


# ---------------------------------------------------------------------------------------
# Delivering one row


@dataclass(frozen=True)
class Outcome:
    action: str  # sent | failed | cancelled | released | skipped | retry
    retry_in: float | None = None


def deliver_each(notification_ids: Iterable[int], *, inline: bool = False) -> list[tuple[int, Outcome]]:
    """`deliver` several rows in turn; returns each delivered row's outcome."""
    outcomes = []
    for notification_id in notification_ids:
        try:
            outcomes.append((notification_id, deliver(notification_id, inline=inline)))
        except Exception:
            # One broken row must not hold up the others; its lease brings it back.
            db.session.rollback()
            log.exception("delivering notification %s failed", notification_id)
    return outcomes


def notifier_for(channel: str) -> Notifier:
    """The provider notifier for a channel: the configured one, else the outbox."""
    from portal.core.registry import plugins

    candidates = plugins().notifiers.get(channel, [])
    if not candidates:
        raise ValidationFailed(f"no notifier for channel {channel}", code="no_notifier")
    wanted = setting(f"NOTIFY_{channel.upper()}_PROVIDER")
    if wanted:
        for notifier in candidates:
            if notifier.name == wanted:
                return notifier
        raise ValidationFailed(f"notifier {wanted!r} for {channel} is not installed", code="no_notifier")
    for notifier in candidates:
        if notifier.name != "outbox" and _configured(notifier):
            return notifier
    for notifier in candidates:
        if notifier.name == "outbox":
            return notifier
    return candidates[0]


def _configured(notifier: Notifier) -> bool:
    check = getattr(notifier, "is_configured", None)
    try:
        return bool(check()) if callable(check) else True
    except Exception:
        log.exception("notifier %s failed its configuration check", notifier.name)
        return False


def unwanted_reason(row: Notification, now: datetime | None = None) -> str | None:
    """Why this row must not go out any more (checked again right before sending)."""
    now = now or utcnow()
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return "the user is disabled"
    if not wants(user, row.channel):
        return f"the user turned {row.channel} notifications off"
    schedule = db.session.get(Schedule, row.schedule_id) if row.schedule_id else None
    if schedule is None:
        return None
    klass = schedule.klass
    from portal.core.access import active_block

    if active_block(user, klass.id) is not None:
        return "the user is blocked"
    if row.kind != CLASS_CANCELLED:
        if not _schedule_live(schedule):
            return "the class was cancelled"
        enrolled = db.session.execute(
            sa.select(Enrolment.id).where(Enrolment.class_id == klass.id, Enrolment.user_id == user.id)
        ).first()
        if enrolled is None:
            return "the student left the class"
    if row.kind == REMINDER and now > schedule.starts_at + REMINDER_GRACE:
        return "too late: the class already started"
    if row.kind in (CLASS_STARTED, CLASS_MOVED) and now > schedule.ends_at:
        return "too late: the class is over"
    if row.kind == CLASS_MOVED and row.key != _move_key(schedule):
        return "superseded: the class moved again"
    return None


_local_limits: dict[str, list[float]] = {}
_local_lock = threading.Lock()


def _rate_limits() -> dict[str, float]:
    raw = setting("NOTIFY_RATE_LIMITS") or ""
    if isinstance(raw, dict):
        return {str(k): float(v) for k, v in raw.items()}
    limits = {}
    for part in str(raw).split(","):
        if "=" in part:
            name, value = part.split("=", 1)
            limits[name.strip()] = float(value)
    return limits


def rate_limit_wait(notifier: Notifier) -> float:
    """Seconds to wait before this provider may take another message (0: go now).

    Per provider, shared by every worker through Redis when configured (one counter per
    second), per process otherwise. The limit is the notifier's `rate_per_second` or the
    NOTIFY_RATE_LIMITS setting."""
    limit = _rate_limits().get(notifier.name, getattr(notifier, "rate_per_second", None))
    if not limit:
        return 0.0
    now = time.time()
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        import redis

        client = _redis(redis_url)
        second = int(now)
        key = f"portal:notify:rate:{notifier.name}:{second}"
        try:
            with client.pipeline() as pipe:
                count, _ = pipe.incr(key).expire(key, 5).execute()
            return 0.0 if count <= limit else (second + 1 - now) + 0.01
        except redis.RedisError as exc:
            # Redis down: keep sending, limited per process, rather than stop every reminder.
            log.warning("rate limit counter unavailable (%s); limiting per process", exc)
    with _local_lock:
        window = [t for t in _local_limits.get(notifier.name, []) if t > now - 1.0]
        if len(window) < limit:
            window.append(now)
            _local_limits[notifier.name] = window
            return 0.0
        _local_limits[notifier.name] = window
        return window[0] + 1.0 - now + 0.001


_redis_clients: dict[str, Any] = {}


def _redis(url: str) -> Any:
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return client


def _backoff(attempts: int) -> float:
    base = float(setting("NOTIFY_RETRY_BACKOFF_SECONDS"))
    # Capped at half the lease, so a row waiting for its retry is never taken for dead.
    return min(base * (2 ** max(attempts - 1, 0)), _lease().total_seconds() / 2)


def _transition(notification_id: int, expected: str, **values: Any) -> bool:
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.status == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def deliver(notification_id: int, *, inline: bool = False) -> Outcome:
    """Send one claimed row through its channel's notifier, at most once."""
    from portal.core.registry import hook

    now = utcnow()
    row = _load_for_delivery(notification_id)
    if row is None or row.status != CLAIMED:
        db.session.rollback()
        return Outcome("skipped")
    reason = unwanted_reason(row, now)
    if reason is not None:
        _transition(row.id, CLAIMED, status=CANCELLED, error=reason)
        return Outcome("cancelled")
    if row.due_at > now + EARLY_SLACK:
        # The class moved later after this row was claimed: back in the queue.
        _transition(row.id, CLAIMED, status=PENDING, claimed_at=None)
        return Outcome("released")
    notifier = notifier_for(row.channel)
    wait = rate_limit_wait(notifier)
    if wait > 0:
        if not inline:
            return Outcome("retry", retry_in=wait)
        for _ in range(1000):  # bounded: the limiter frees a slot within a second
            time.sleep(min(wait, 1.0))
            wait = rate_limit_wait(notifier)
            if wait <= 0:
                break
    try:
        message = compose(row)
    except Exception as exc:
        log.exception("could not compose notification %s", row.id)
        _transition(row.id, CLAIMED, status=FAILED, error=f"could not compose the message: {exc}"[:1000])
        return Outcome("failed")
    attempts = row.attempts + 1
    # The point of no return: only the process that makes this transition calls the provider.
    if not _transition(row.id, CLAIMED, status=SENDING, claimed_at=utcnow(), attempts=attempts):
        return Outcome("skipped")
    try:
        result = notifier.send(message)
    except Exception as exc:  # a notifier should return a DeliveryResult; be safe anyway
        log.exception("notifier %s raised for notification %s", notifier.name, notification_id)
        result = DeliveryResult(status="failed", retryable=False, error=f"{type(exc).__name__}: {exc}")
    if result.status in ("sent", "queued"):
        final: dict[str, Any] = {"status": SENT, "sent_at": utcnow(), "provider_id": result.provider_id, "error": None}
        outcome = Outcome("sent")
    elif result.retryable and attempts < int(setting("NOTIFY_MAX_ATTEMPTS")):
        delay = _backoff(attempts)
        error = (result.error or "temporary failure")[:1000]
        if inline:
            _finish(notification_id, status=PENDING, claimed_at=None,
                    due_at=utcnow() + timedelta(seconds=delay), error=error)
        else:
            _finish(notification_id, status=CLAIMED, claimed_at=utcnow(), error=error)
        return Outcome("retry", retry_in=delay)
    else:
        final = {"status": FAILED, "error": (result.error or "delivery failed")[:1000]}
        if result.provider_id:
            final["provider_id"] = result.provider_id
        outcome = Outcome("failed")
    _finish(notification_id, **final)
    if hook().notification_delivered.get_hookimpls():
        try:
            hook().notification_delivered(notification=db.session.get(Notification, notification_id), result=result)
        except Exception:
            log.exception("notification_delivered hook failed")
        db.session.commit()
    return outcome


def _load_for_delivery(notification_id: int) -> Notification | None:
    """The row with its recipient and occurrence (and class) in one round trip: the checks
    and the message read them from the session afterwards instead of one query each."""
    found = db.session.execute(
        sa.select(Notification, User, Schedule)
        .outerjoin(User, User.id == Notification.user_id)
        .outerjoin(Schedule, Schedule.id == Notification.schedule_id)
        .where(Notification.id == notification_id)
    ).first()
    return found[0] if found else None


def _finish(notification_id: int, **values: Any) -> None:
    """The provider answered: record it whatever the row says now. (A call slower than the
    lease may have had the row marked 'state unknown'; the provider's answer is better.)"""
    db.session.execute(
        sa.update(Notification).where(Notification.id == notification_id).values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def record_provider_status(channel: str, provider_id: str, status: str, error: str | None = None) -> Notification | None:
    """A provider's delivery report (e.g. a Twilio status callback) for a sent row."""
    row = db.session.execute(
        sa.select(Notification).where(Notification.channel == channel, Notification.provider_id == provider_id)
    ).scalar_one_or_none()
    if row is None:
        return None
    if status == FAILED:
        row.status, row.error = FAILED, (error or "the provider could not deliver the message")[:1000]
    elif status == SENT and row.status in (SENDING, FAILED):
        row.status, row.error = SENT, None
    return row


# ---------------------------------------------------------------------------------------
# Composing the message


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="portal.unsubscribe")


def unsubscribe_token(user: User, channel: str) -> str:
    return _serializer().dumps({"u": user.id, "c": channel})


def unsubscribe_url(user: User, channel: str) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/unsubscribe/{unsubscribe_token(user, channel)}"


def read_unsubscribe_token(token: str) -> tuple[User, str]:
    try:
        data = _serializer().loads(token)
        user = db.session.get(User, int(data["u"]))
        channel = str(data["c"])
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise NotFound("this unsubscribe link is not valid", code="invalid_token") from exc
    if user is None or channel not in CHANNELS:
        raise NotFound("this unsubscribe link is not valid", code="invalid_token")
    return user, channel


def unsubscribe(token: str) -> tuple[User, str]:
    """Turn one channel off for the user the signed link names; cancel what is pending."""
    from portal.core import audit

    user, channel = read_unsubscribe_token(token)
    if channel == "email":
        user.notify_email = False
    else:
        user.notify_sms = False
    db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.channel == channel,
               Notification.status == PENDING)
        .values(status=CANCELLED, error=f"the user turned {channel} notifications off")
        .execution_options(synchronize_session=False)
    )
    audit.record(user, "notifications.unsubscribe", "user", user.id, channel=channel)
    return user, channel


def _local(dt: datetime, tz_name: str) -> str:
    local = dt.astimezone(ZoneInfo(tz_name))
    return f"{local:%A %d %B %Y, %H:%M} ({tz_name})"


def _ics(schedules: list[Schedule], cancelled: bool) -> Attachment:
    """One VEVENT per occurrence; the UID is per occurrence, so a later move or
    cancellation updates the very event an invitation or reminder put in the calendar."""
    from icalendar import Calendar, Event

    base = current_app.config["BASE_URL"].rstrip("/")
    host = base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "portal"
    calendar = Calendar()
    calendar.add("prodid", "-//Classroom portal//notifications//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    for schedule in schedules:
        event = Event()
        event.add("uid", f"schedule-{schedule.id}@{host}")
        event.add("summary", schedule.klass.title)
        event.add("dtstart", schedule.starts_at)
        event.add("dtend", schedule.ends_at)
        event.add("dtstamp", utcnow())
        # Calendar clients apply an update only if SEQUENCE grows: minutes since 2020 always do.
        event.add("sequence", int((utcnow().timestamp() - 1577836800) // 60))
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("url", f"{base}/")
        if schedule.klass.description:
            event.add("description", schedule.klass.description)
        calendar.add_component(event)
    method = "CANCEL" if cancelled else "REQUEST"
    return Attachment(filename="class.ics", content_type=f"text/calendar; method={method}; charset=UTF-8",
                      data=calendar.to_ical())


SUBJECTS = {
    REMINDER: "Reminder: {title} starts {when}",
    CLASS_STARTED: "{title} has started: join now",
    CLASS_CANCELLED: "Cancelled: {title} on {when}",
    CLASS_MOVED: "Moved: {title} is now on {when}",
    RECORDING_AVAILABLE: "Recording available: {title}",
    CLASS_INVITATION: "You are enrolled in {title}: first class {when}",
}


def _relative(minutes: int) -> str:
    if minutes <= 0:
        return "now"
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "in 1 day" if days == 1 else f"in {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "in 1 hour" if hours == 1 else f"in {hours} hours"
    return f"in {minutes} minutes"


def compose(row: Notification) -> NotificationMessage:
    """Subject, text, HTML and (for calendar changes) an .ics for one row."""
    user = db.session.get(User, row.user_id)
    schedule = db.session.get(Schedule, row.schedule_id) if row.schedule_id else None
    recording = None
    if row.kind == RECORDING_AVAILABLE and row.key.isdigit():
        recording = db.session.get(Recording, int(row.key))
    klass = schedule.klass if schedule else (db.session.get(Class, recording.class_id) if recording else None)
    tz_name = user.timezone or (klass.timezone if klass else "UTC")
    upcoming = _upcoming(klass.id) if klass is not None and row.kind == CLASS_INVITATION else []
    base = current_app.config["BASE_URL"].rstrip("/")
    context = {
        "kind": row.kind,
        "user": user,
        "klass": klass,
        "title": klass.title if klass else "your class",
        "when": _local(schedule.starts_at, tz_name) if schedule else "",
        "relative": _relative(int(row.key)) if row.kind == REMINDER and row.key.isdigit() else "",
        "whole_series": row.kind == CLASS_CANCELLED and row.key == "class",
        "occurrences": len(upcoming),
        "recording": recording,
        "portal_url": f"{base}/",
        "join_url": f"{base}/",
        "school_name": current_app.config.get("SCHOOL_NAME", ""),
        "unsubscribe_url": unsubscribe_url(user, row.channel),
        "channel": row.channel,
    }
    if recording is not None and recording.playback_url:
        context["recording_url"] = recording.playback_url
    subject = SUBJECTS[row.kind].format(**context)
    env = current_app.jinja_env
    if row.channel == "sms":
        text = env.get_template("notifications/sms.txt").render(**context).strip()
        html = None
        recipient = user.phone or ""
    else:
        text = env.get_template("notifications/email.txt").render(**context)
        html = env.get_template("notifications/email.html").render(**context)
        recipient = user.email
    attachments = []
    if row.channel == "email" and schedule is not None and row.kind in (REMINDER, CLASS_MOVED, CLASS_CANCELLED):
        attachments.append(_ics([schedule], cancelled=row.kind == CLASS_CANCELLED))
    elif row.channel == "email" and klass is not None and row.kind == CLASS_INVITATION:
        attachments.append(_ics(upcoming, cancelled=False))
    return NotificationMessage(
        channel=row.channel,
        recipient=recipient,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        notification_id=row.id,
        metadata={
            "kind": row.kind,
            "unsubscribe_url": context["unsubscribe_url"],
            "class_title": context["title"],
            "schedule_id": row.schedule_id,
            "user_id": user.id,
            "school_name": context["school_name"],
        },
    )


def list_for_user(user: User, limit: int = 50) -> list[Notification]:
    return list(
        db.session.execute(
            sa.select(Notification).where(Notification.user_id == user.id)
            .order_by(Notification.due_at.desc(), Notification.id.desc()).limit(limit)
        ).scalars()
    )
