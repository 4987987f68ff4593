"""A user's links to external identities (users_identities rows): the SSO plugins export
and remove their own through the services facade; the erasure removes any left over."""

from __future__ import annotations

from typing import Any

from portal.core.models import UserIdentity
from portal.extensions import db


def _rows(user_id: int, provider: str | None) -> list[UserIdentity]:
    stmt = db.select(UserIdentity).where(UserIdentity.user_id == user_id)
    if provider is not None:
        stmt = stmt.where(UserIdentity.provider == provider)
    return list(db.session.execute(stmt.order_by(UserIdentity.id)).scalars())


def describe(user_id: int, provider: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "provider": row.provider,
            "subject": row.subject,
            "linked_at": row.created_at.isoformat(),
            "last_login_at": row.last_login_at.isoformat() if row.last_login_at else None,
        }
        for row in _rows(user_id, provider)
    ]


def remove(user_id: int, provider: str | None = None, *, dry_run: bool = False) -> int:
    rows = _rows(user_id, provider)
    if not dry_run:
        for row in rows:
            db.session.delete(row)
        db.session.flush()
    return len(rows)
