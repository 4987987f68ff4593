"""Create and update users from a CSV file (admins): a dry run first, then the same check
again and, only when no row has an error, the writes. Never touches passwords."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from portal.core import access, audit
from portal.core.errors import PortalError, ValidationFailed
from portal.core.models import User
from portal.core.timezones import check_timezone
from portal.extensions import db
from portal.i18n import gettext

REQUIRED_COLUMNS = ("email", "name", "role")
OPTIONAL_COLUMNS = ("phone", "timezone")
MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024


@dataclass
class RowResult:
    """What one data line does: create, update, unchanged, or error (with the message)."""

    line: int  # the line number in the file (the header is line 1)
    email: str
    action: str
    message: str = ""
    changes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    rows: list[RowResult]
    applied: bool

    @property
    def errors(self) -> int:
        return sum(1 for row in self.rows if row.action == "error")

    def counts(self) -> dict[str, int]:
        found = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
        for row in self.rows:
            found[row.action] += 1
        return found


def _read(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if len(text.encode()) > MAX_BYTES:
        raise ValidationFailed("the CSV file is larger than 2 MB", code="csv_too_large")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValidationFailed(
            gettext(
                "the first line must name the columns email,name,role[,phone,timezone]; "
                "missing: %(columns)s",
                columns=", ".join(missing),
            ),
            code="csv_header",
        )
    unknown = [name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ValidationFailed(
            gettext(
                "unknown column(s): %(columns)s; the columns are email,name,role[,phone,timezone]",
                columns=", ".join(unknown),
            ),
            code="csv_header",
        )
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    for record in reader:
        if len(rows) >= MAX_ROWS:
            raise ValidationFailed(
                gettext("at most %(count)s users per file", count=MAX_ROWS), code="csv_too_large"
            )
        if None in record:
            rows.append((reader.line_num, {"__extra__": "1", **_strings(record)}))
        elif any((value or "").strip() for value in record.values()):
            rows.append((reader.line_num, _strings(record)))
    return header, rows


def _strings(record: dict[Any, Any]) -> dict[str, str]:
    return {k: (v or "").strip() for k, v in record.items() if isinstance(k, str)}


def _check_row(
    actor: User, header: list[str], record: dict[str, str], existing: User | None
) -> tuple[str, dict[str, Any], list[str]]:
    """(email, the values to write, what changes) or a PortalError for a bad row."""
    from portal.core.users import _role, normalise_email, normalise_phone

    if "__extra__" in record:
        raise ValidationFailed("this line has more values than the header has columns")
    email = normalise_email(record.get("email", ""))
    name = record.get("name", "")
    if not name:
        raise ValidationFailed("name must not be empty")
    values: dict[str, Any] = {"name": name, "role": _role(record.get("role", "").lower())}
    if "phone" in header:
        values["phone"] = normalise_phone(record.get("phone"))
    if "timezone" in header:
        zone = record.get("timezone")
        values["timezone"] = check_timezone(zone) if zone else None
    if existing is None:
        return email, values, []
    if existing.id == actor.id and values["role"] != existing.role:
        raise ValidationFailed("administrators cannot change their own role")
    changes = [key for key, value in values.items() if getattr(existing, key) != value]
    return email, values, changes


def import_users(actor: User, text: str, *, apply: bool) -> ImportReport:
    """Check every line of the CSV; with `apply` and no error anywhere, write the creates and
    updates (matched by email, case-insensitively). With an error nothing is written."""
    from portal.core.users import create_user

    access.require_admin(actor)
    header, records = _read(text)
    addresses = {r.get("email", "").strip().lower() for _, r in records}
    known = {
        user.email.lower(): user
        for user in db.session.execute(
            sa.select(User).where(sa.func.lower(User.email).in_(addresses))
        ).scalars()
    }
    results: list[RowResult] = []
    planned: list[tuple[RowResult, dict[str, Any], User | None]] = []
    seen: dict[str, int] = {}
    for line, record in records:
        raw_email = record.get("email", "")
        try:
            existing = known.get(raw_email.strip().lower())
            email, values, changes = _check_row(actor, header, record, existing)
            if email in seen:
                raise ValidationFailed(
                    gettext("the same email is already on line %(line)s", line=seen[email])
                )
            seen[email] = line
        except PortalError as exc:
            results.append(RowResult(line, raw_email, "error", exc.shown))
            continue
        if existing is None:
            result = RowResult(line, email, "create")
        elif changes:
            result = RowResult(line, email, "update", changes=changes)
        else:
            result = RowResult(line, email, "unchanged")
        results.append(result)
        planned.append((result, {"email": email, **values}, existing))
    report = ImportReport(results, applied=False)
    if not apply or report.errors:
        return report
    for result, values, existing in planned:
        if existing is None:
            create_user(actor, **values)
        elif result.action == "update":
            before = {key: getattr(existing, key) for key in result.changes}
            for key in result.changes:
                setattr(existing, key, values[key])
            audit.record(
                actor,
                "user.import_update",
                "user",
                existing.id,
                fields=result.changes,
                role_before=before.get("role"),
            )
    audit.record(actor, "user.import", "site", "users", **report.counts())
    report.applied = True
    return report
