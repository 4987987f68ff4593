"""INSERT ... ON CONFLICT for the databases the portal runs on."""

from __future__ import annotations

from typing import Any

from portal.extensions import db


def insert_with_conflicts(model: Any) -> Any:
    """An INSERT into `model` offering on_conflict_do_nothing / on_conflict_do_update:
    PostgreSQL and SQLite both have them, under their own dialect's `insert`."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the portal supports PostgreSQL and SQLite
        raise RuntimeError(f"unsupported database {dialect}")
    return insert(model)
