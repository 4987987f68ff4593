"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from portal.core import clock


class UTCDateTime(TypeDecorator):
    """Stores naive UTC and always hands back aware UTC datetimes.

    SQLite has no time zone support, so the portal normalises every timestamp to UTC
    on the way in and re-attaches UTC on the way out; the same code then works on
    SQLite and PostgreSQL.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Now, from the portal's clock (portal/core/clock.py), which tests can freeze."""
    return clock.now()
