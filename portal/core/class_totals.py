"""How many classes are active, without counting them.

The admin's unfiltered class list shows every class of the school (100,000 in the large-school
benchmark); counting them for its page total on every request was most of that request's
cost. The count lives in the one row of `class_totals` instead, changed by the same flush
that inserts a class or changes its status (mapper events, so every ORM path is covered, and
the change commits or rolls back with the class). Classes are never deleted, only cancelled;
a delete is still counted. SQL that writes `classes` around the ORM (a backup import, a
bulk seed) must call `recount` afterwards.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapper

from portal.core.models import Class, ClassStatus, ClassTotal
from portal.extensions import db

_ACTIVE = ClassStatus.ACTIVE.value
_ROW_ID = 1

# Built once: every class creation runs it.
_ADD = (
    sa.update(ClassTotal)
    .where(ClassTotal.id == _ROW_ID)
    .values(active=ClassTotal.active + sa.bindparam("change"))
)
_READ = sa.select(ClassTotal.active).where(ClassTotal.id == _ROW_ID)


def active_classes() -> int:
    """The number of active classes: the kept row, else (a database whose row is missing)
    a count."""
    kept = db.session.execute(_READ).scalar()
    if kept is not None:
        return int(kept)
    return _count(db.session.connection())


def recount(connection: sa.Connection) -> None:
    """Set the kept total from the classes themselves (after SQL that bypassed the ORM)."""
    active = _count(connection)
    if connection.execute(sa.update(ClassTotal).values(active=active)).rowcount == 0:
        connection.execute(sa.insert(ClassTotal).values(id=_ROW_ID, active=active))


def _count(connection: sa.Connection) -> int:
    return int(
        connection.execute(
            sa.select(sa.func.count(Class.id)).where(Class.status == _ACTIVE)
        ).scalar_one()
    )


def _add(connection: sa.Connection, change: int) -> None:
    if change:
        connection.execute(_ADD, {"change": change})


@event.listens_for(Class, "after_insert")
def _class_inserted(_mapper: Mapper[Any], connection: sa.Connection, target: Class) -> None:
    _add(connection, 1 if target.status == _ACTIVE else 0)


@event.listens_for(Class, "after_update")
def _class_updated(_mapper: Mapper[Any], connection: sa.Connection, target: Class) -> None:
    history = sa.inspect(target).attrs.status.history
    if not history.added:
        return
    was = history.deleted[0] if history.deleted else None
    _add(connection, (history.added[0] == _ACTIVE) - (was == _ACTIVE))


@event.listens_for(Class, "after_delete")
def _class_deleted(_mapper: Mapper[Any], connection: sa.Connection, target: Class) -> None:
    history = sa.inspect(target).attrs.status.history
    was = history.deleted[0] if history.deleted else target.status
    _add(connection, -1 if was == _ACTIVE else 0)
