"""Delivery: one claimed row through its channel's notifier, at most once, with retries
for what the provider says is temporary."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from portal.core import unit_of_work
from portal.core.errors import ValidationFailed
from portal.core.models import BlockedUser, Enrolment, Notification, Schedule, User
from portal.core.notifications.composition import BatchComposition, compose
from portal.core.notifications.planning import move_key, schedule_live, wants
from portal.core.notifications.rate_limit import rate_limit_wait
from portal.core.notifications.states import EARLY_SLACK, REMINDER_GRACE, lease, setting
from portal.core.notifications.states import NotificationKind as Kind
from portal.core.notifications.states import NotificationStatus as Status
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext
from portal.plugins.types import (
    BatchNotifier,
    CheckedNotifier,
    DeliveryResult,
    NotificationMessage,
    Notifier,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: str  # sent | failed | cancelled | released | skipped | retry
    retry_in: float | None = None


def notifier_for(channel: str) -> Notifier:
    """The provider notifier for a channel: the configured one, else the outbox."""
    from portal.core.registry import plugins

    candidates = plugins().notifiers.get(channel, [])
    if not candidates:
        raise ValidationFailed(
            gettext("no notifier for channel %(channel)s", channel=channel), code="no_notifier"
        )
    wanted = setting(f"NOTIFY_{channel.upper()}_PROVIDER")
    if wanted:
        for notifier in candidates:
            if notifier.name == wanted:
                return notifier
        raise ValidationFailed(
            gettext(
                "notifier '%(name)s' for %(channel)s is not installed",
                name=wanted,
                channel=channel,
            ),
            code="no_notifier",
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


@dataclass(frozen=True)
class _Recipients:
    """The send-time facts about a batch's recipients (blocks, enrolments), read in two
    queries for the whole batch instead of two per row."""

    blocked: frozenset[tuple[int, int | None]]  # (user, class); class None: site-wide
    enrolled: frozenset[tuple[int, int]]  # (class, user)

    @classmethod
    def read(cls, rows: Sequence[Notification], now: datetime) -> _Recipients:
        from portal.core.access import block_in_force

        user_ids = {row.user_id for row in rows}
        schedules = (db.session.get(Schedule, r.schedule_id) for r in rows if r.schedule_id)
        class_ids = {schedule.class_id for schedule in schedules if schedule is not None}
        if not user_ids:
            return cls(frozenset(), frozenset())
        blocked = db.session.execute(
            sa.select(BlockedUser.user_id, BlockedUser.scope, BlockedUser.class_id).where(
                BlockedUser.user_id.in_(user_ids), block_in_force(now)
            )
        ).all()
        enrolled = (
            db.session.execute(
                sa.select(Enrolment.class_id, Enrolment.user_id).where(
                    Enrolment.class_id.in_(class_ids), Enrolment.user_id.in_(user_ids)
                )
            ).all()
            if class_ids
            else []
        )
        return cls(
            frozenset((u, None if scope == "site" else c) for u, scope, c in blocked),
            frozenset((c, u) for c, u in enrolled),
        )

    def is_blocked(self, user_id: int, class_id: int) -> bool:
        return (user_id, None) in self.blocked or (user_id, class_id) in self.blocked


def unwanted_reason(
    row: Notification, now: datetime | None = None, recipients: _Recipients | None = None
) -> str | None:
    """Why this row must not go out any more (checked again right before sending).
    `recipients`: the batch's blocks and enrolments, read once (else queried for this row)."""
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

    if recipients is not None:
        blocked = recipients.is_blocked(user.id, klass.id)
    else:
        blocked = active_block(user, klass.id) is not None
    if blocked:
        return "the user is blocked"
    if row.kind != Kind.CLASS_CANCELLED:
        if not schedule_live(schedule):
            return "the class was cancelled"
        if recipients is not None:
            enrolled = (klass.id, user.id) in recipients.enrolled
        else:
            enrolled = (
                db.session.execute(
                    sa.select(Enrolment.id).where(
                        Enrolment.class_id == klass.id, Enrolment.user_id == user.id
                    )
                ).first()
                is not None
            )
        if not enrolled:
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


def deliver(notification_id: int, *, inline: bool = False) -> Outcome:
    """Send one claimed row through its channel's notifier, at most once (a retry's own
    task): a batch of one, so every rule lives in `deliver_batch`."""
    [(_, outcome)] = deliver_batch([notification_id], inline=inline)
    return outcome


def deliver_batch(
    notification_ids: Iterable[int], *, inline: bool = False
) -> list[tuple[int, Outcome]]:
    """Deliver claimed rows together, each at most once, with what `deliver` does per row
    done once per batch: one query loads the rows, recipients and occurrences, two more the
    blocks and enrolments; the templates and calendar attachments are prepared once; the
    notifier takes NOTIFY_SEND_WINDOW messages at a time (`send_many`: one connection), each
    window marked 'sending' and its answers recorded in one commit. Returns each row's
    outcome ("retry" rows are for the caller to schedule, as with `deliver`)."""
    session = db.session()
    # The batch's rows, recipients and occurrences stay loaded across its commits (they
    # would be read again row by row otherwise); the checks ran at the batch's start.
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        return _deliver_batch(list(dict.fromkeys(notification_ids)), inline=inline)
    finally:
        session.expire_on_commit = expire_on_commit
        session.expire_all()


def _deliver_batch(ids: list[int], *, inline: bool) -> list[tuple[int, Outcome]]:
    now = utcnow()
    loaded = _load_batch(ids)  # held until the batch is done (see _load_batch)
    rows = [row for row, _, _ in loaded]
    outcomes: dict[int, Outcome] = {i: Outcome("skipped") for i in ids}
    recipients = _Recipients.read([r for r in rows if r.status == Status.CLAIMED], now)
    unwanted: list[dict[str, Any]] = []
    ready: dict[str, list[Notification]] = {}
    for row in rows:
        if row.status != Status.CLAIMED:
            continue
        reason = unwanted_reason(row, now, recipients)
        if reason is not None:
            unwanted.append({"id": row.id, "status": Status.CANCELLED, "error": reason})
            outcomes[row.id] = Outcome("cancelled")
        elif row.due_at > now + EARLY_SLACK:
            # The class moved later after this row was claimed: back in the queue.
            unwanted.append({"id": row.id, "status": Status.PENDING, "claimed_at": None})
            outcomes[row.id] = Outcome("released")
        else:
            ready.setdefault(row.channel, []).append(row)
    if unwanted:
        _settle_rows(unwanted, only_if=Status.CLAIMED)
    composition = BatchComposition()
    window = max(1, int(setting("NOTIFY_SEND_WINDOW")))
    for channel, channel_rows in ready.items():
        try:
            notifier = notifier_for(channel)
        except ValidationFailed:
            # No notifier for the channel any more: the rows wait for their lease (as before).
            log.exception("no notifier for %d %s notifications", len(channel_rows), channel)
            continue
        pending = list(channel_rows)
        while pending:
            allowed = _take_rate_limit_slots(notifier, min(window, len(pending)), inline)
            if allowed == 0:  # the provider's rate limit: the caller retries the rest later
                wait = rate_limit_wait(notifier)
                outcomes.update((r.id, Outcome("retry", retry_in=max(wait, 0.1))) for r in pending)
                break
            part, pending = pending[:allowed], pending[allowed:]
            outcomes.update(_send_window(notifier, part, composition, inline=inline))
    return [(i, outcomes[i]) for i in ids]


def _take_rate_limit_slots(notifier: Notifier, wanted: int, inline: bool) -> int:
    """How many messages the provider's rate limit lets go now (up to `wanted`); inline,
    waits for the first slot rather than return 0."""
    for taken in range(wanted):
        wait = rate_limit_wait(notifier)
        if wait <= 0:
            continue
        if taken or not inline:
            return taken
        for _ in range(1000):  # bounded: the limiter frees a slot within a second
            time.sleep(min(wait, 1.0))
            wait = rate_limit_wait(notifier)
            if wait <= 0:
                break
    return wanted


def _send_window(
    notifier: Notifier,
    rows: list[Notification],
    composition: BatchComposition,
    *,
    inline: bool,
) -> dict[int, Outcome]:
    """Compose, mark 'sending' (one commit), hand over, record the answers (one commit)."""
    from portal.core.registry import hook

    outcomes: dict[int, Outcome] = {}
    messages: dict[int, NotificationMessage] = {}
    broken: list[dict[str, Any]] = []
    for row in rows:
        try:
            messages[row.id] = compose(row, composition)
        except Exception as exc:
            log.exception("could not compose notification %s", row.id)
            error = f"could not compose the message: {exc}"[:1000]
            broken.append({"id": row.id, "status": Status.FAILED, "error": error})
            outcomes[row.id] = Outcome("failed")
    _update_rows(broken, only_if=Status.CLAIMED)
    sending = _mark_sending(list(messages))
    for row_id in set(messages) - sending:
        outcomes[row_id] = Outcome("skipped")
    handed = [row for row in rows if row.id in sending]
    if not handed:
        return outcomes
    results = _hand_over(notifier, [messages[row.id] for row in handed])
    answers: list[dict[str, Any]] = []
    delivered_hooks = bool(hook().notification_delivered.get_hookimpls())
    max_attempts = int(setting("NOTIFY_MAX_ATTEMPTS"))
    for row, result in zip(handed, results, strict=True):
        attempts = row.attempts + 1
        final: dict[str, Any] = {"id": row.id}
        if result.status in ("sent", "queued"):
            final.update(
                status=Status.SENT, sent_at=utcnow(), provider_id=result.provider_id, error=None
            )
            outcomes[row.id] = Outcome("sent")
        elif result.retryable and attempts < max_attempts:
            delay = _backoff(attempts)
            final["error"] = (result.error or "temporary failure")[:1000]
            if inline:
                final.update(
                    status=Status.PENDING,
                    claimed_at=None,
                    due_at=utcnow() + timedelta(seconds=delay),
                )
            else:
                final.update(status=Status.CLAIMED, claimed_at=utcnow())
            answers.append(final)
            outcomes[row.id] = Outcome("retry", retry_in=delay)
            continue
        else:
            final.update(status=Status.FAILED, error=(result.error or "delivery failed")[:1000])
            if result.provider_id:
                final["provider_id"] = result.provider_id
            outcomes[row.id] = Outcome("failed")
        answers.append(final)
        if delivered_hooks:
            _after_commit_delivered(row.id, final, result)
    _settle_rows(answers)
    return outcomes


def _mark_sending(notification_ids: list[int]) -> set[int]:
    """claimed -> sending for the rows of one window (and whatever else was written before);
    returns the rows this process moved: the only ones it may hand to the provider."""
    sending: set[int] = set()
    if notification_ids:
        sending = set(
            db.session.execute(
                sa.update(Notification)
                .where(Notification.id.in_(notification_ids), Notification.status == Status.CLAIMED)
                .values(
                    status=Status.SENDING, claimed_at=utcnow(), attempts=Notification.attempts + 1
                )
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
    # Atomic claim: 'sending' must be visible to the other workers before the provider call.
    db.session.commit()
    return sending


def _settle_rows(changes: Sequence[dict[str, Any]], *, only_if: str | None = None) -> None:
    """Write and commit rows' outcomes (cancelled, released, the provider's answers)."""
    _update_rows(changes, only_if=only_if)
    # Atomic claim, its end: durable before the next window's provider call (a crash later
    # must not leave these rows 'sending' or claimed).
    db.session.commit()


def _hand_over(notifier: Notifier, messages: list[NotificationMessage]) -> list[DeliveryResult]:
    """One result per message: `send_many` when the notifier has it, else `send` each."""
    if isinstance(notifier, BatchNotifier):
        try:
            results = list(notifier.send_many(messages))
        except Exception as exc:  # some may have gone out: none is retried (never twice)
            log.exception("notifier %s raised for %d messages", notifier.name, len(messages))
            error = f"{type(exc).__name__}: {exc}"
            return [DeliveryResult(status="failed", error=error) for _ in messages]
        if len(results) == len(messages):
            return results
        log.error("notifier %s answered %d of %d", notifier.name, len(results), len(messages))
        unanswered = DeliveryResult(status="failed", error="the notifier gave no answer")
        return (results + [unanswered] * len(messages))[: len(messages)]
    return [_send_one(notifier, message) for message in messages]


def _send_one(notifier: Notifier, message: NotificationMessage) -> DeliveryResult:
    try:
        return notifier.send(message)
    except Exception as exc:  # a notifier should return a DeliveryResult; be safe anyway
        log.exception("notifier %s raised for %s", notifier.name, message.notification_id)
        return DeliveryResult(
            status="failed", retryable=False, error=f"{type(exc).__name__}: {exc}"
        )


def _after_commit_delivered(row_id: int, final: dict[str, Any], result: DeliveryResult) -> None:
    from portal.core.registry import hook
    from portal.core.snapshots import notification_ref

    answered = {k: v for k, v in final.items() if k in ("status", "provider_id", "error")}
    delivered = dataclasses.replace(
        notification_ref(db.session.get_one(Notification, row_id)), **answered
    )
    # Sent once the answer is committed; what the hook writes commits after it.
    unit_of_work.after_commit(
        lambda: hook().notification_delivered(notification=delivered, result=result)
    )


def _update_rows(changes: Sequence[dict[str, Any]], *, only_if: str | None = None) -> None:
    """Each {"id": ..., column: value} change, one executemany UPDATE per set of columns
    (`only_if`: only rows still in that status)."""
    table = cast(sa.Table, Notification.__table__)
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        columns = tuple(sorted(k for k in change if k != "id"))
        shapes.setdefault(columns, []).append({f"new_{k}": v for k, v in change.items()})
    for columns, params in shapes.items():
        statement = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("new_id"))
            .values({c: sa.bindparam(f"new_{c}", type_=table.c[c].type) for c in columns})
        )
        if only_if is not None:
            statement = statement.where(table.c.status == only_if)
        db.session.execute(statement, params)


def _load_batch(notification_ids: list[int]) -> list[tuple[Notification, Any, Any]]:
    """The rows with their recipients and occurrences (and classes) in one round trip. The
    caller keeps the tuples: the session's identity map holds objects weakly, and the checks
    and the messages find the users and occurrences there only while someone refers to them."""
    if not notification_ids:
        return []
    return [
        (row, user, schedule)
        for row, user, schedule in db.session.execute(
            sa.select(Notification, User, Schedule)
            .outerjoin(User, User.id == Notification.user_id)
            .outerjoin(Schedule, Schedule.id == Notification.schedule_id)
            .where(Notification.id.in_(notification_ids))
            .order_by(Notification.id)
        )
    ]


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
