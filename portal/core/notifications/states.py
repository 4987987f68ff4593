"""The words of a notification row: its kind, its status, and the timing rules shared by
planning and delivery."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from flask import current_app

# The contract owns the enum (notifiers report provider statuses with it); re-exported here.
from portal.plugins.types import NotificationStatus as NotificationStatus


class NotificationKind(StrEnum):
    """The `kind` column."""

    REMINDER = "reminder"
    CLASS_STARTED = "class_started"
    CLASS_CANCELLED = "class_cancelled"
    CLASS_MOVED = "class_moved"
    RECORDING_AVAILABLE = "recording_available"
    CLASS_INVITATION = (
        "class_invitation"  # on enrolment, email only, with every upcoming occurrence
    )
    # Account emails (portal/core/accounts.py): email only, whatever the preferences.
    PASSWORD_RESET = "password_reset"
    ACCOUNT_INVITATION = "account_invitation"
    SIGN_UP_APPROVED = "sign_up_approved"
    SIGN_UP_REFUSED = "sign_up_refused"


# A reminder may still go out this long after the class started (offset 0 = "starting now").
REMINDER_GRACE = timedelta(minutes=5)
# A claimed row whose due time was moved more than this into the future goes back to pending.
EARLY_SLACK = timedelta(seconds=60)
UNKNOWN_STATE_ERROR = "the worker stopped during the provider call; not resent, to never send twice"

DEFAULTS: dict[str, Any] = {
    "NOTIFY_SCAN_SECONDS": 60,
    "NOTIFY_LEASE_SECONDS": 600,
    "NOTIFY_BATCH_SIZE": 500,
    "NOTIFY_TASK_CHUNK": 100,  # rows per Celery delivery task (one batch, one connection)
    # Rows marked 'sending' (and their answers recorded) together: fewer commits per row, but
    # a worker killed mid-window leaves up to this many rows 'state unknown' (never resent).
    "NOTIFY_SEND_WINDOW": 10,
    "NOTIFY_MAX_ATTEMPTS": 5,
    "NOTIFY_RETRY_BACKOFF_SECONDS": 30,
    "NOTIFY_RATE_LIMITS": "",  # "smtp=14,twilio=1": messages per second per provider
    "NOTIFY_EMAIL_PROVIDER": None,  # smtp | ses | outbox; None picks the configured one
    "NOTIFY_SMS_PROVIDER": None,  # twilio | outbox
}


def setting(name: str) -> Any:
    value = current_app.config.get(name)
    return DEFAULTS.get(name) if value is None else value


def lease() -> timedelta:
    """How long a claim holds before another claimer may take the row (its worker died)."""
    return timedelta(seconds=int(setting("NOTIFY_LEASE_SECONDS")))
