"""Notifications: class reminders and "class started / cancelled / moved / recording" notices.

Life of a row in the `notifications` table (one per recipient x channel x reminder):

    pending --claim--> claimed --deliver--> sending --provider answered--> sent | failed
    pending|claimed --class cancelled, student left/blocked, preference off--> cancelled

The package follows that life:

- `planning`: which rows should exist (who, which channel, when); `receivers` turn the
  core's blinker signals (a class scheduled, moved or cancelled, a student enrolled or
  blocked, a meeting started, a recording stored) into planning, so the table always says
  what should go out and when.
- `dispatch`: `dispatch_due()` (the scan, on its own Celery queue) claims the rows that are
  due in batches, one UPDATE ... RETURNING each (PostgreSQL: a FOR UPDATE SKIP LOCKED CTE;
  SQLite: one conditional UPDATE), and hands them to delivery, through Celery tasks of up
  to NOTIFY_TASK_CHUNK rows (production) or inline (embedded default): the same code path.
- `delivery`: a batch of rows through their notifier (`send_many` when it has it: one
  connection), each at most once; `rate_limit` keeps each provider within its messages
  per second; `composition` writes the messages (templates and .ics once per batch).

At most once: a row moves claimed -> sending in a conditional UPDATE (committed) right
before the provider call, NOTIFY_SEND_WINDOW rows at a time, and only the process that made
that transition calls the provider. A row
whose worker died while 'claimed' is re-claimed after the lease; a row whose worker died
while 'sending' (the provider may or may not have the message) is never resent: it is
marked failed with an explicit "state unknown" error instead of risking a duplicate.
"""

from __future__ import annotations

from flask import Flask

from portal.core.notifications import rate_limit
from portal.core.notifications.composition import (
    compose,
    read_unsubscribe_token,
    unsubscribe,
    unsubscribe_url,
)
from portal.core.notifications.delivery import (
    Outcome,
    deliver,
    deliver_batch,
    notifier_for,
    record_provider_status,
    unwanted_reason,
)
from portal.core.notifications.dispatch import claim_due, dispatch_due
from portal.core.notifications.planning import (
    cancel_pending,
    list_for_user,
    queue_notice,
    sync_schedule,
    sync_schedules,
)
from portal.core.notifications.rate_limit import rate_limit_wait
from portal.core.notifications.receivers import connect_signals
from portal.core.notifications.states import (
    DEFAULTS,
    UNKNOWN_STATE_ERROR,
    NotificationKind,
    NotificationStatus,
)


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    rate_limit.init_app(app)
    connect_signals()


__all__ = [
    "UNKNOWN_STATE_ERROR",
    "NotificationKind",
    "NotificationStatus",
    "Outcome",
    "cancel_pending",
    "claim_due",
    "compose",
    "deliver",
    "deliver_batch",
    "dispatch_due",
    "init_app",
    "list_for_user",
    "notifier_for",
    "queue_notice",
    "rate_limit_wait",
    "read_unsubscribe_token",
    "record_provider_status",
    "sync_schedule",
    "sync_schedules",
    "unsubscribe",
    "unsubscribe_url",
    "unwanted_reason",
]
