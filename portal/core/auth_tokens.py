"""Revocation of the portal's own JWTs (logout, back-channel logout)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g

from portal.core.models import RevokedToken, User
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
    """Is this token revoked? The same round trip loads the token's user, which the user
    lookup right after reads from the session: one query per request instead of two."""
    jti = claims.get("jti")
    if jti is None:
        return True
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        return db.session.get(RevokedToken, jti) is not None
    found = db.session.execute(
        db.select(User, RevokedToken.jti).select_from(User)
        .outerjoin(RevokedToken, RevokedToken.jti == jti).where(User.id == user_id)
    ).first()
    if found is None:  # no such user: the lookup refuses the token anyway
        return db.session.get(RevokedToken, jti) is not None
    # The session's identity map holds objects weakly: keep the user alive for the lookup.
    g.portal_token_user = found[0]
    return found.jti is not None


def purge_expired() -> int:
    """Periodic job: revoked tokens past their expiry are harmless and can go."""
    result = db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    db.session.commit()
    return result.rowcount or 0


def revoke_all_for_user(user_id: int) -> None:
    """Refuse every token the user holds now (tokens carry 'iat' in whole seconds)."""
    user = db.session.get(User, user_id)
    if user is not None:
        user.tokens_valid_after = utcnow().replace(microsecond=0)


def issued_before_cutoff(user: Any, claims: dict[str, Any]) -> bool:
    if user.tokens_valid_after is None:
        return False
    return int(claims.get("iat", 0)) < int(user.tokens_valid_after.timestamp())
