"""Revocation of the portal's own JWTs (logout, back-channel logout)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.core.models import RevokedToken
from portal.core.types import utcnow
from portal.extensions import db


def revoke(claims: dict[str, Any]) -> None:
    jti = claims.get("jti")
    if not jti or db.session.get(RevokedToken, jti) is not None:
        return
    expires = datetime.fromtimestamp(int(claims.get("exp", 0)), UTC)
    user_id = claims.get("sub")
    db.session.add(RevokedToken(jti=jti, expires_at=expires, user_id=int(user_id) if str(user_id).isdigit() else None))


def is_revoked(claims: dict[str, Any]) -> bool:
    jti = claims.get("jti")
    return jti is None or db.session.get(RevokedToken, jti) is not None


def purge_expired() -> int:
    """Periodic job: revoked tokens past their expiry are harmless and can go."""
    result = db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    db.session.commit()
    return result.rowcount or 0


def revoke_all_for_user(user_id: int) -> None:
    """Refuse every token the user holds now (tokens carry 'iat' in whole seconds)."""
    from portal.core.models import User

    user = db.session.get(User, user_id)
    if user is not None:
        user.tokens_valid_after = utcnow().replace(microsecond=0)


def issued_before_cutoff(user: Any, claims: dict[str, Any]) -> bool:
    if user.tokens_valid_after is None:
        return False
    return int(claims.get("iat", 0)) < int(user.tokens_valid_after.timestamp())
