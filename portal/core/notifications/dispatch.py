"""Dispatch: claiming the rows that are due, atomically, and handing them to delivery
(a few rows per Celery task with a broker, inline otherwise: the same code path)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from portal.core.models import Notification
from portal.core.notifications.delivery import deliver_batch
from portal.core.notifications.states import UNKNOWN_STATE_ERROR, lease, setting
from portal.core.notifications.states import NotificationStatus as Status
from portal.core.types import utcnow
from portal.extensions import db

log = logging.getLogger(__name__)


def claim_due(limit: int | None = None, now: datetime | None = None) -> list[int]:
    """Atomically claim up to `limit` due rows and return their ids (committed).

    Due means pending with due_at <= now, or claimed longer ago than the lease (its worker
    died before sending). One UPDATE ... RETURNING whatever the batch size. Safe with any
    number of concurrent claimers: PostgreSQL skips rows another transaction has locked
    (FOR UPDATE SKIP LOCKED in the CTE); SQLite runs the conditional UPDATE as one write.
    """
    now = now or utcnow()
    limit = int(limit or setting("NOTIFY_BATCH_SIZE"))
    cutoff = now - lease()
    due = sa.or_(
        sa.and_(Notification.status == Status.PENDING, Notification.due_at <= now),
        sa.and_(Notification.status == Status.CLAIMED, Notification.claimed_at < cutoff),
    )
    values = {"status": Status.CLAIMED, "claimed_at": now}
    candidates = (
        sa.select(Notification.id)
        .where(due)
        .order_by(Notification.due_at, Notification.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # One statement: the CTE locks up to `limit` due rows, skipping those another claimer
        # holds, and the UPDATE claims exactly those.
        candidates = candidates.with_for_update(skip_locked=True)
    # SQLite runs the conditional UPDATE as one write (writers are serialised), and the
    # repeated `due` condition keeps a row claimed meanwhile out.
    locked = candidates.cte("due_rows")
    ids = list(
        db.session.execute(
            sa.update(Notification)
            .where(Notification.id.in_(sa.select(locked.c.id)), due)
            .values(**values)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    # Rows stuck in 'sending' past the lease: the provider may have the message. Never resend.
    db.session.execute(
        sa.update(Notification)
        .where(Notification.status == Status.SENDING, Notification.claimed_at < cutoff)
        .values(status=Status.FAILED, error=UNKNOWN_STATE_ERROR)
        .execution_options(synchronize_session=False)
    )
    # Atomic claim: the claimed rows must be visible to the other workers before the slow
    # deliveries start, so no two workers send one notification.
    db.session.commit()
    return ids


FanOut = Callable[[list[int]], None]


def _celery_fan_out() -> FanOut | None:
    if not current_app.config.get("REDIS_URL"):
        return None  # no broker: this process delivers what it claimed itself
    from portal import tasks

    task = tasks.celery_of(current_app).tasks.get("portal.notifications.send_many")
    if task is None:
        return None
    return lambda notification_ids: task.apply_async((notification_ids,))


def _chunks(ids: list[int]) -> list[list[int]]:
    """Up to NOTIFY_TASK_CHUNK rows per delivery task (one batch: one provider connection,
    a few commits), but ~8 tasks for a claim that allows it (of one send window at least),
    so every worker process gets a share of a small class's reminders."""
    spread = max(int(setting("NOTIFY_SEND_WINDOW")), -(-len(ids) // 8))
    size = max(1, min(int(setting("NOTIFY_TASK_CHUNK")), spread))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def dispatch_due(
    now: datetime | None = None, fan_out: FanOut | None = None, max_batches: int = 1000
) -> int:
    """The periodic job (on its own Celery queue): claim everything due, a batch per UPDATE,
    and deliver it, one delivery task per chunk of a batch when a broker is configured,
    inline otherwise (the same batch delivery). Returns how many rows were claimed."""
    send = fan_out or _celery_fan_out()
    total = 0
    full = int(setting("NOTIFY_BATCH_SIZE"))
    # The first claims are small and grow to a full batch: the first delivery tasks are
    # queued (and the first messages out) after one task's worth of rows is claimed, not
    # after a whole batch; the later claims are full, so a burst costs few statements.
    batch = min(full, max(1, int(setting("NOTIFY_TASK_CHUNK")))) if send is not None else full
    for _ in range(max_batches):
        ids = claim_due(batch, now)
        total += len(ids)
        if send is not None:
            for chunk in _chunks(ids):
                send(chunk)
        else:
            for notification_id, outcome in deliver_batch(ids, inline=True):
                if outcome.action == "retry":
                    log.info("notification %s will be retried", notification_id)
        if len(ids) < batch:
            break
        batch = min(full, batch * 2)
    return total
