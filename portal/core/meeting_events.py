"""Small services for backend plugins that learn about meetings from callbacks.

Webhooks arrive more than once and concurrently (providers retry on timeouts), so the
updates of a meeting's backend `data` here are compare-and-set on `updated_at`: two
deliveries of the same event cannot both claim it, and neither loses the other's change.
They flush into the caller's unit of work (a plugin view or job owns the commit): the
conditional UPDATE locks the meeting's row, so a concurrent delivery waits for this
transaction's end and then sees its change. The exception is the delivery claim: claiming and
releasing an idempotency key commit at once (atomic claims), so a retry sees them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from portal.core import meetings
from portal.core.models import Attendance, Meeting, User
from portal.core.types import utcnow
from portal.core.upsert import rows_matched
from portal.extensions import db
from portal.plugins.types import Visit

__all__ = [
    "Visit",
    "backend_settings",
    "claim_delivery",
    "meetings_with_pending",
    "note_attendance",
    "note_visits",
    "release_delivery",
    "update_data",
]

# Attempts of a compare-and-set before giving up; each retry re-reads the row.
_CAS_ATTEMPTS = 25


def update_data(meeting: Meeting, change: Callable[[dict[str, Any]], Any]) -> Any:
    """Apply `change` to a copy of meeting.data and store it atomically (compare-and-set).
    Does not commit: the unit of work's owner does.

    `change` mutates the dict it receives and may return a value, which is returned. It
    may run more than once (on a concurrent update it is re-applied to the fresh data).
    """
    for _ in range(_CAS_ATTEMPTS):
        db.session.flush()  # refresh would discard unflushed changes of the row
        db.session.refresh(meeting)
        before = meeting.updated_at
        data = copy.deepcopy(dict(meeting.data or {}))
        result = change(data)
        outcome = db.session.execute(
            db.update(Meeting)
            .where(Meeting.id == meeting.id, Meeting.updated_at == before)
            .values(data=data, updated_at=utcnow())
        )
        if rows_matched(outcome) == 1:
            db.session.refresh(meeting)
            return result
    raise RuntimeError(f"meeting {meeting.id} is updated too often to store backend data")


def claim_delivery(meeting: Meeting, key: str, *, keep: int = 500) -> bool:
    """Remember a delivery's idempotency key; False when it was seen before.

    The last `keep` keys are kept in meeting.data["deliveries"], so the list stays bounded.
    """

    def claim(data: dict[str, Any]) -> bool:
        seen = list(data.get("deliveries") or [])
        if key in seen:
            return False
        seen.append(key)
        data["deliveries"] = seen[-keep:]
        return True

    claimed = bool(update_data(meeting, claim))
    # Atomic claim: a provider's retry arriving while this delivery is still being processed
    # (often a slow download) must see the key, not wait for the meeting's row.
    db.session.commit()
    return claimed


def release_delivery(meeting: Meeting, key: str) -> None:
    """Forget a claimed key so a retry of a delivery that failed is processed again."""

    def release(data: dict[str, Any]) -> None:
        data["deliveries"] = [k for k in data.get("deliveries") or [] if k != key]

    db.session.rollback()  # the failed delivery's own writes go; only its claim is undone
    update_data(meeting, release)
    db.session.commit()  # atomic claim, released: the provider's retry is processed again


def note_attendance(
    meeting: Meeting,
    *,
    user_id: int | None,
    name: str,
    source: str,
    left: bool = False,
    at: datetime | None = None,
) -> None:
    """Record who the backend saw join or leave, at `at` when the backend says when
    (see meetings.record_attendance). Unknown user ids count as guests. Does not commit."""
    if user_id is not None and db.session.get(User, user_id) is None:
        user_id = None
    meetings.record_attendance(
        meeting, user_id=user_id, name=name[:200] or "Guest", source=source, left=left, at=at
    )


def note_visits(meeting: Meeting, visits: Iterable[Visit], *, source: str) -> None:
    """Record visits with the backend's own join and leave times (e.g. BBB's learning-analytics
    data at meeting end), which are exact where sampling and receipt times are not.

    The earliest known join stays (an earlier session of the same occurrence, a portal join
    click); the backend's leave time replaces a sampled one. Repeating the same data changes
    nothing. Unknown user ids count as guests. Does not commit (a savepoint retries a race).
    """
    visits = list(visits)
    known = {
        u
        for (u,) in db.session.execute(
            db.select(User.id).where(
                User.id.in_({v.user_id for v in visits if v.user_id is not None})
            )
        )
    }
    for _ in range(2):  # a concurrent delivery inserted the same rows first: update them instead
        try:
            with db.session.begin_nested():
                for visit in visits:
                    user_id = visit.user_id if visit.user_id in known else None
                    _note_visit(meeting, visit, user_id, source)
            return
        except IntegrityError:
            pass  # the savepoint rolled back; the second round finds their rows
    raise RuntimeError(f"cannot record the visits of meeting {meeting.id}")


def _note_visit(meeting: Meeting, visit: Visit, user_id: int | None, source: str) -> None:
    name = visit.name[:200] or "Guest"
    row = (
        db.session.execute(
            db.select(Attendance).where(
                Attendance.meeting_id == meeting.id,
                Attendance.display_name == name,
                Attendance.user_id == user_id
                if user_id is not None
                else Attendance.user_id.is_(None),
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        db.session.add(
            Attendance(
                meeting_id=meeting.id,
                user_id=user_id,
                display_name=name,
                source=source,
                first_joined_at=visit.joined_at,
                last_seen_at=visit.left_at or visit.joined_at,
                left_at=visit.left_at,
            )
        )
        db.session.flush()
        return
    row.first_joined_at = min(row.first_joined_at, visit.joined_at)
    row.last_seen_at = max(row.last_seen_at, visit.left_at or visit.joined_at)
    row.left_at = visit.left_at
    row.source = source


def backend_settings(backend: str) -> list[tuple[int, dict[str, Any]]]:
    """(config id, effective settings) of every configuration of `backend`, enabled or not:
    a disabled backend must still accept the recordings of meetings it ran."""
    from portal.core.backends import effective_settings
    from portal.core.models import BackendConfig

    configs = db.session.execute(
        db.select(BackendConfig).filter_by(backend=backend).order_by(BackendConfig.id)
    ).scalars()
    return [(config.id, effective_settings(config)) for config in configs]


def meetings_with_pending(backend: str, key: str, *, within_days: int = 3) -> list[Meeting]:
    """Meetings of `backend` touched in the last days whose data has a non-empty `key`
    (JSON filtering differs between SQLite and PostgreSQL, so the filter runs here)."""
    from datetime import timedelta

    since = utcnow() - timedelta(days=within_days)
    rows = db.session.execute(
        db.select(Meeting).where(Meeting.backend == backend, Meeting.updated_at >= since)
    ).scalars()
    return [m for m in rows if (m.data or {}).get(key)]
