"""Administration pages for privacy: the audit log (who looked) and the retention and
erasure settings. The rules are in portal/core/privacy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import render_template, request

from portal.core import access
from portal.core.models import User
from portal.core.privacy import access_log, erasure, retention
from portal.web.admin_pages import _page_number, page_count
from portal.web.pages import web
from portal.web.support import page

ENTRIES_PER_PAGE = 50


def _day(name: str) -> datetime | None:
    """?since=2026-12-01 (a day, UTC); anything else is no bound."""
    try:
        return datetime.strptime(request.args.get(name) or "", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _int(name: str) -> int | None:
    value = (request.args.get(name) or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


@web.get("/admin/audit")
@page("admin")
def admin_audit(user: User):
    until = _day("until")
    subject = (request.args.get("subject_id") or "").strip()[:64] or None
    filters = access_log.AuditFilter(
        actor_id=_int("actor_id"),
        subject_type=(request.args.get("subject_type") or "").strip()[:32] or None,
        subject_id=subject,
        action=(request.args.get("action") or "").strip()[:64] or None,
        since=_day("since"),
        until=until + timedelta(days=1) if until else None,  # the whole last day
    )
    page_no = _page_number()
    rows, total = access_log.list_entries(
        user, filters, limit=ENTRIES_PER_PAGE, offset=(page_no - 1) * ENTRIES_PER_PAGE
    )
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "admin/audit.html",
        user=user,
        rows=rows,
        total=total,
        args=request.args,
        query=query,
        page_no=page_no,
        pages=page_count(total, ENTRIES_PER_PAGE),
    )


@web.get("/admin/privacy")
@page("admin")
def admin_privacy(user: User):
    access.require_admin(user)
    return render_template(
        "admin/privacy.html",
        user=user,
        rules=retention.read_policy(),
        kinds=retention.KINDS,
        policy=erasure.policy(),
    )
