from __future__ import annotations

from typing import Any

from portal.core.models import AuditLog, User
from portal.extensions import db


def record(
    actor: User | None, action: str, target_type: str, target_id: Any, **details: Any
) -> None:
    """Add an audit entry to the current transaction (committed with the change it describes)."""
    db.session.add(
        AuditLog(
            actor_id=actor.id if actor else None,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details=details,
        )
    )
