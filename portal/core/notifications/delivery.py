"""Delivery: one claimed row through its channel's notifier, at most once, with retries
for what the provider says is temporary."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from portal.core import unit_of_work
from portal.core.errors import ValidationFailed
from portal.core.models import Enrolment, Notification, Schedule, User
from portal.core.notifications.composition import compose
from portal.core.notifications.planning import move_key, schedule_live, wants
from portal.core.notifications.rate_limit import rate_limit_wait
from portal.core.notifications.states import EARLY_SLACK, REMINDER_GRACE, lease, setting
from portal.core.notifications.states import NotificationKind as Kind
from portal.core.notifications.states import NotificationStatus as Status
from portal.core.types import utcnow
from portal.core.upsert import rows_matched
from portal.extensions import db
from portal.plugins.types import CheckedNotifier, DeliveryResult, Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: str  # sent | failed | cancelled | released | skipped | retry
    retry_in: float | None = None


def deliver_each(
    notification_ids: Iterable[int], *, inline: bool = False
) -> list[tuple[int, Outcome]]:
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
        raise ValidationFailed(
            f"notifier {wanted!r} for {channel} is not installed", code="no_notifier"
        )
    for notifier in candidates:
        if notifier.name != "outbox" and _configured(notifier):
            return notifier
    for notifier in candidates:
        if notifier.name == "outbox":
            return notifier
    return candidates[0]


def _configured(notifier: Notifier) -> bool:
    if not isinstance(notifier, CheckedNotifier):
        return True
    try:
        return bool(notifier.is_configured())
    except Exception:
        log.exception("notifier %s failed its configuration check", notifier.name)
        return False


def unwanted_reason(row: Notification, now: datetime | None = None) -> str | None:
    """Why this row must not go out any more (checked again right before sending)."""
    now = now or utcnow()
    user = db.session.get(User, row.user_id)
    from portal.core import accounts

    if row.kind in accounts.ACCOUNT_KINDS:
        return accounts.unwanted_account_reason(row, user)
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
    if row.kind != Kind.CLASS_CANCELLED:
        if not schedule_live(schedule):
            return "the class was cancelled"
        enrolled = db.session.execute(
            sa.select(Enrolment.id).where(
                Enrolment.class_id == klass.id, Enrolment.user_id == user.id
            )
        ).first()
        if enrolled is None:
            return "the student left the class"
    if row.kind == Kind.REMINDER and now > schedule.starts_at + REMINDER_GRACE:
        return "too late: the class already started"
    if row.kind in (Kind.CLASS_STARTED, Kind.CLASS_MOVED) and now > schedule.ends_at:
        return "too late: the class is over"
    if row.kind == Kind.CLASS_MOVED and row.key != move_key(schedule):
        return "superseded: the class moved again"
    return None


def _backoff(attempts: int) -> float:
    base = float(setting("NOTIFY_RETRY_BACKOFF_SECONDS"))
    # Capped at half the lease, so a row waiting for its retry is never taken for dead.
    return min(base * (2 ** max(attempts - 1, 0)), lease().total_seconds() / 2)


def _transition(notification_id: int, expected: str, **values: Any) -> bool:
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.status == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    # Atomic claim: 'sending' must be visible to the other workers before the provider call.
    db.session.commit()
    return rows_matched(result) == 1


def deliver(notification_id: int, *, inline: bool = False) -> Outcome:
    """Send one claimed row through its channel's notifier, at most once."""
    from portal.core.registry import hook

    now = utcnow()
    row = _load_for_delivery(notification_id)
    if row is None or row.status != Status.CLAIMED:
        db.session.rollback()
        return Outcome("skipped")
    reason = unwanted_reason(row, now)
    if reason is not None:
        _transition(row.id, Status.CLAIMED, status=Status.CANCELLED, error=reason)
        return Outcome("cancelled")
    if row.due_at > now + EARLY_SLACK:
        # The class moved later after this row was claimed: back in the queue.
        _transition(row.id, Status.CLAIMED, status=Status.PENDING, claimed_at=None)
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
        _transition(
            row.id,
            Status.CLAIMED,
            status=Status.FAILED,
            error=f"could not compose the message: {exc}"[:1000],
        )
        return Outcome("failed")
    attempts = row.attempts + 1
    # The point of no return: only the process that makes this transition calls the provider.
    if not _transition(
        row.id, Status.CLAIMED, status=Status.SENDING, claimed_at=utcnow(), attempts=attempts
    ):
        return Outcome("skipped")
    try:
        result = notifier.send(message)
    except Exception as exc:  # a notifier should return a DeliveryResult; be safe anyway
        log.exception("notifier %s raised for notification %s", notifier.name, notification_id)
        result = DeliveryResult(
            status="failed", retryable=False, error=f"{type(exc).__name__}: {exc}"
        )
    if result.status in ("sent", "queued"):
        final: dict[str, Any] = {
            "status": Status.SENT,
            "sent_at": utcnow(),
            "provider_id": result.provider_id,
            "error": None,
        }
        outcome = Outcome("sent")
    elif result.retryable and attempts < int(setting("NOTIFY_MAX_ATTEMPTS")):
        delay = _backoff(attempts)
        error = (result.error or "temporary failure")[:1000]
        if inline:
            _finish(
                notification_id,
                status=Status.PENDING,
                claimed_at=None,
                due_at=utcnow() + timedelta(seconds=delay),
                error=error,
            )
        else:
            _finish(notification_id, status=Status.CLAIMED, claimed_at=utcnow(), error=error)
        return Outcome("retry", retry_in=delay)
    else:
        final = {"status": Status.FAILED, "error": (result.error or "delivery failed")[:1000]}
        if result.provider_id:
            final["provider_id"] = result.provider_id
        outcome = Outcome("failed")
    if hook().notification_delivered.get_hookimpls():
        from portal.core.snapshots import notification_ref

        answered = {k: v for k, v in final.items() if k in ("status", "provider_id", "error")}
        delivered = dataclasses.replace(
            notification_ref(db.session.get_one(Notification, notification_id)), **answered
        )
        # Sent once the answer is committed (below); what the hook writes commits after it.
        unit_of_work.after_commit(
            lambda: hook().notification_delivered(notification=delivered, result=result)
        )
    _finish(notification_id, **final)
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
        sa.update(Notification)
        .where(Notification.id == notification_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    # Atomic claim, its end: the provider has the message; its answer is durable before the
    # next delivery's call (a crash later must not leave the row 'sending').
    db.session.commit()


def record_provider_status(
    channel: str, provider_id: str, status: str, error: str | None = None
) -> Notification | None:
    """A provider's delivery report (e.g. a Twilio status callback) for a sent row."""
    row = db.session.execute(
        sa.select(Notification).where(
            Notification.channel == channel, Notification.provider_id == provider_id
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    if status == Status.FAILED:
        row.status, row.error = (
            Status.FAILED,
            (error or "the provider could not deliver the message")[:1000],
        )
    elif status == Status.SENT and row.status in (Status.SENDING, Status.FAILED):
        row.status, row.error = Status.SENT, None
    return row
