"""Fill every table with at least one row whose every column holds a value (or a NULL a
constraint demands), so a backup round trip is checked on all tables and columns."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal.core.backup import backed_up_tables
from portal.core.types import UTCDateTime, utcnow
from portal.extensions import db

# Columns a CHECK constraint fixes to one value (or NULL) for the synthetic row.
FIXED = {
    ("users", "role"): "teacher",
    ("classes", "status"): "active",
    ("classes", "duration_minutes"): 45,
    ("schedules", "status"): "scheduled",
    ("meetings", "status"): "running",
    ("feedback", "rating"): 4,
    ("feedback", "recording_id"): None,
    ("blocked_users", "scope"): "site",
    ("blocked_users", "class_id"): None,
    ("class_staff", "role"): "co_teacher",
    ("lobby_entries", "status"): "waiting",
    ("guests", "status"): "waiting",
    ("export_jobs", "status"): "queued",
}
TRICKY = "Zoë «ж» 数学 <b>&amp;</b> ' \" \\ \n end"


def fill_every_table() -> dict[str, int]:
    now = utcnow().replace(microsecond=123456)
    first_id: dict[str, object] = {}
    for table in backed_up_tables():
        row: dict[str, object] = {}
        for column in table.columns:
            key = (table.name, column.name)
            if key in FIXED:
                row[column.name] = FIXED[key]
            elif column.foreign_keys:
                target = next(iter(column.foreign_keys)).column.table.name
                row[column.name] = first_id[target]
            elif column.primary_key and isinstance(column.type, sa.Integer):
                continue  # autoincrement
            elif isinstance(column.type, UTCDateTime | sa.DateTime):
                row[column.name] = now + (
                    timedelta(hours=1) if column.name == "ends_at" else timedelta()
                )
            elif isinstance(column.type, sa.Boolean):
                row[column.name] = True
            elif isinstance(column.type, sa.Integer):
                row[column.name] = 7
            elif isinstance(column.type, sa.JSON):
                row[column.name] = {"nested": [1, "two", None, {"x": TRICKY}]}
            else:
                length = getattr(column.type, "length", None) or 200
                row[column.name] = (f"{table.name[:8]}-{column.name}-{TRICKY}")[:length]
        result = db.session.execute(table.insert().values(**row))
        pk = list(table.primary_key.columns)[0]
        first_id[table.name] = row.get(pk.name) or result.inserted_primary_key[0]
    db.session.commit()
    return snapshot()


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every backed-up table (derived data such as class_totals is rebuilt,
    not copied), in primary-key order, as comparable tuples."""
    out: dict[str, list[tuple]] = {}
    for table in backed_up_tables():
        order = list(table.primary_key.columns)
        rows = db.session.execute(table.select().order_by(*order)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out
