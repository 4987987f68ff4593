"""INSERT ... ON CONFLICT for the databases the portal runs on, and the row count of an
UPDATE or DELETE."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result

from portal.extensions import db


def insert_with_conflicts(model: Any, *, dialect: str | None = None) -> Any:
    """An INSERT into `model` offering on_conflict_do_nothing / on_conflict_do_update:
    PostgreSQL and SQLite both have them, under their own dialect's `insert`. `dialect`
    (a name) builds it for that database instead of the session's."""
    dialect = dialect or db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(model)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(model)
    raise RuntimeError(f"unsupported database {dialect}")  # pragma: no cover


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through the session matched (0 or more)."""
    # Session.execute is typed as returning Result; for these statements it returns a
    # CursorResult, which is what carries rowcount.
    return cast(CursorResult[Any], result).rowcount or 0
