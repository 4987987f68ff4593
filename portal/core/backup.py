"""Logical backup: every table's rows to NDJSON and back, on SQLite and PostgreSQL alike.

Format (one JSON document per line, optionally gzip-compressed when the path ends in .gz):
  {"format": "portal-backup", "version": 1, "schema": "<alembic revision>", "tables": {name: rows}}
  {"table": "<name>", "row": {column: value, ...}}   (parents before children)
Timestamps are ISO 8601 UTC strings; JSON columns stay JSON. Secrets stay as stored: backend
settings are encrypted with the installation's SECRET_KEY, so restore with the same key.

Import only goes into an EMPTY, migrated database at the same schema revision (run
`portal db upgrade` first), in one transaction: a failure leaves the target empty.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Literal

import sqlalchemy as sa

from portal.core import class_totals
from portal.core.errors import Conflict, ValidationFailed
from portal.core.types import UTCDateTime
from portal.extensions import db
from portal.i18n import gettext

FORMAT = "portal-backup"
VERSION = 1
BATCH = 500


_DERIVED = {"class_totals"}


def backed_up_tables() -> list[sa.Table]:
    import portal.core.models  # noqa: F401  (registers every table on the metadata)

    # Derived data is not backed up: the import rebuilds it from the rows it loaded.
    return [t for t in db.metadata.sorted_tables if t.name not in _DERIVED]


def _revision(connection: sa.Connection) -> str | None:
    try:
        return connection.execute(sa.text("select version_num from alembic_version")).scalar()
    except sa.exc.DBAPIError:
        return None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        raise ValidationFailed("binary columns are not supported by the backup format")
    return value


def _decode(column: sa.Column, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, UTCDateTime | sa.DateTime):
        return datetime.fromisoformat(value)
    if isinstance(column.type, sa.Date):
        return date.fromisoformat(value)
    return value


def counts() -> dict[str, int]:
    """Rows per table, as the backup header records them (and tests compare them)."""
    return {
        t.name: db.session.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
        for t in backed_up_tables()
    }


def iter_export() -> Iterator[str]:
    """Lines of the backup, streamed table by table (bounded memory for large tables)."""
    connection = db.session.connection()
    yield json.dumps(
        {"format": FORMAT, "version": VERSION, "schema": _revision(connection), "tables": counts()}
    )
    for table in backed_up_tables():
        order = list(table.primary_key.columns) or list(table.columns)
        result = connection.execution_options(yield_per=BATCH).execute(
            table.select().order_by(*order)
        )
        for row in result.mappings():
            yield json.dumps(
                {"table": table.name, "row": {k: _encode(v) for k, v in row.items()}},
                ensure_ascii=False,
            )


def _open(path: str | Path, mode: Literal["r", "w"]) -> IO[str]:
    if str(path).endswith(".gz"):
        if mode == "r":
            return gzip.open(path, "rt", encoding="utf-8")
        return gzip.open(path, "wt", encoding="utf-8")
    return open(path, mode, encoding="utf-8")  # noqa: SIM115 - closed by the caller's with


def export_to(path: str | Path) -> dict[str, int]:
    with _open(path, "w") as out:
        for line in iter_export():
            out.write(line + "\n")
    return counts()


def import_from(path: str | Path) -> dict[str, int]:
    """Load a backup into this empty database; returns rows per table. All or nothing."""
    tables = {t.name: t for t in backed_up_tables()}
    existing = {name: n for name, n in counts().items() if n}
    if existing:
        raise Conflict(
            gettext(
                "the target database is not empty (%(tables)s); import only into a freshly "
                "migrated database",
                tables=", ".join(sorted(existing)),
            ),
            code="not_empty",
        )
    connection = db.session.connection()
    loaded: dict[str, int] = {}
    with _open(path, "r") as source:
        header = json.loads(source.readline() or "{}")
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise ValidationFailed(
                "this file is not a portal backup (or a newer format)", code="not_a_backup"
            )
        if header.get("schema") != _revision(connection):
            raise Conflict(
                gettext(
                    "the backup is at schema %(backup)s, this database at %(database)s; "
                    "run `portal db upgrade` to the same revision",
                    backup=header.get("schema"),
                    database=_revision(connection),
                ),
                code="schema_mismatch",
            )
        pending: list[dict[str, Any]] = []
        current: str | None = None

        def flush() -> None:
            if pending and current is not None:
                connection.execute(tables[current].insert(), pending)
                loaded[current] = loaded.get(current, 0) + len(pending)
                pending.clear()

        for number, line in enumerate(source, start=2):
            if not line.strip():
                continue
            item = json.loads(line)
            name = item.get("table")
            if name not in tables:
                raise ValidationFailed(
                    gettext("line %(line)s: unknown table '%(table)s'", line=number, table=name),
                    code="not_a_backup",
                )
            if name != current or len(pending) >= BATCH:
                flush()
                current = name
            table = tables[name]
            pending.append(
                {
                    c.name: _decode(c, item["row"].get(c.name))
                    for c in table.columns
                    if c.name in item["row"]
                }
            )
        flush()
    expected = {k: v for k, v in header["tables"].items() if v}
    if loaded != expected:
        raise ValidationFailed(
            gettext(
                "the backup is truncated: expected %(expected)s, read %(loaded)s",
                expected=expected,
                loaded=loaded,
            ),
            code="truncated",
        )
    _reset_sequences(connection)
    class_totals.recount(connection)
    return loaded


def _reset_sequences(connection: sa.Connection) -> None:
    """PostgreSQL: move each id sequence past the imported ids, so new rows do not collide."""
    if connection.dialect.name != "postgresql":
        return
    for table in backed_up_tables():
        id_column = table.columns.get("id")
        if id_column is None or not isinstance(id_column.type, sa.Integer):
            continue
        connection.execute(
            sa.text(
                f"select setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"coalesce((select max(id) from {table.name}), 0) + 1, false)"
            )
        )
