"""The portal's own JWTs: sign-in sessions, revocation (logout, back-channel logout) and
"end every session" (password change, deactivation).

A sign-in session is one access/refresh pair sharing a session id (the `sid` claim): the
refreshed access tokens keep it, and signing out revokes the session, so a logout that
only presents the access token also kills its refresh token. Every token also carries
the user's token generation (`gen`, added to every token the app creates, see
portal/auth_setup.py); raising the user's generation refuses all their earlier tokens at
once, whatever session they belong to, and nothing lowers it again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token

from portal.core.models import RevokedToken, User
from portal.core.types import utcnow
from portal.core.upsert import rows_matched
from portal.extensions import db

SESSION_CLAIM = "sid"
GENERATION_CLAIM = "gen"
# revoked_tokens holds revoked sessions beside revoked tokens; the prefix keeps them apart.
_SESSION_KEY_PREFIX = "sid:"


def issue_session(user: User, session_id: str | None = None) -> tuple[str, str]:
    """A new (access, refresh) token pair for a sign-in session; a new session unless
    `session_id` names the one to continue (after a password change)."""
    session_id = session_id or uuid.uuid4().hex
    access = create_access_token(
        identity=str(user.id), additional_claims={"role": user.role, SESSION_CLAIM: session_id}
    )
    refresh = create_refresh_token(
        identity=str(user.id), additional_claims={SESSION_CLAIM: session_id}
    )
    return access, refresh


def refreshed_access_token(user: User, refresh_claims: dict[str, Any]) -> str:
    """A new access token for the session of this (valid) refresh token."""
    claims: dict[str, Any] = {"role": user.role}
    if refresh_claims.get(SESSION_CLAIM):
        claims[SESSION_CLAIM] = refresh_claims[SESSION_CLAIM]
    return create_access_token(identity=str(user.id), additional_claims=claims)


def generation_claims(identity: Any) -> dict[str, Any]:
    """Claims every new token of this identity carries: the user's current generation."""
    try:
        user = db.session.get(User, int(identity))
    except (TypeError, ValueError):
        return {}
    return {GENERATION_CLAIM: user.token_generation} if user is not None else {}


def _session_key(claims: dict[str, Any]) -> str | None:
    session_id = claims.get(SESSION_CLAIM)
    return _SESSION_KEY_PREFIX + session_id if isinstance(session_id, str) and session_id else None


def _add_revocation(key: str, expires: datetime, user_id: int | None) -> None:
    if db.session.get(RevokedToken, key) is not None:
        return
    db.session.add(RevokedToken(jti=key, expires_at=expires, user_id=user_id))
    db.session.flush()  # a second revocation of the same key in this request finds this row


def revoke(claims: dict[str, Any]) -> None:
    """Revoke this token and, when it belongs to a sign-in session, the whole session."""
    subject = str(claims.get("sub"))
    user_id = int(subject) if subject.isdigit() else None
    jti = claims.get("jti")
    if jti:
        _add_revocation(jti, datetime.fromtimestamp(int(claims.get("exp", 0)), UTC), user_id)
    session_key = _session_key(claims)
    if session_key:
        # The session's refresh token was issued at sign-in, so it expires within one
        # refresh lifetime from now: after that the row is harmless and purged.
        _add_revocation(
            session_key, utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"], user_id
        )


# Built once: every authenticated request runs it, and building and cache-keying the
# statement cost more CPU than loading the row.
_USER_AND_REVOCATION = (
    db.select(User, RevokedToken.jti)
    .select_from(User)
    .outerjoin(RevokedToken, RevokedToken.jti.in_(db.bindparam("keys", expanding=True)))
    .where(User.id == db.bindparam("user_id"))
)


def is_revoked(claims: dict[str, Any]) -> bool:
    """Is this token, or its session, revoked? The same round trip loads the token's user,
    which the user lookup right after reads from the session: one query per request
    instead of two."""
    jti = claims.get("jti")
    if jti is None:
        return True
    keys = [jti] + [key for key in [_session_key(claims)] if key]
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        return _any_revoked(keys)
    found = db.session.execute(_USER_AND_REVOCATION, {"user_id": user_id, "keys": keys}).first()
    if found is None:  # no such user: the lookup refuses the token anyway
        return _any_revoked(keys)
    # The session's identity map holds objects weakly: keep the user alive for the lookup.
    g.portal_token_user = found[0]
    return found.jti is not None


def revocation_keys(claims: dict[str, Any]) -> list[str]:
    """The revoked_tokens keys that refuse this token: its own id and its session's."""
    jti = claims.get("jti")
    return [str(jti)] + [key for key in [_session_key(claims)] if key] if jti else []


def revoked_among(keys: list[str]) -> set[str]:
    """Which of these keys are revoked: one query for many tokens (the realtime server
    checks a burst of socket connects together)."""
    if not keys:
        return set()
    return set(
        db.session.execute(db.select(RevokedToken.jti).where(RevokedToken.jti.in_(keys))).scalars()
    )


def _any_revoked(keys: list[str]) -> bool:
    return (
        db.session.execute(
            db.select(RevokedToken.jti).where(RevokedToken.jti.in_(keys)).limit(1)
        ).first()
        is not None
    )


def purge_expired() -> int:
    """Periodic job: revoked tokens past their expiry are harmless and can go."""
    result = db.session.execute(db.delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    return rows_matched(result)


def revoke_all_for_user(user_id: int) -> None:
    """Refuse every token the user holds now, access and refresh, in every session.

    Tokens issued afterwards carry the new generation and are accepted."""
    user = db.session.get(User, user_id)
    if user is not None:
        user.token_generation = (user.token_generation or 0) + 1


def sign_out_everywhere(user_id: int) -> None:
    """End every session the user has now, also tokens minted earlier in this very second.
    Does not commit."""
    revoke_all_for_user(user_id)
    user = db.session.get(User, user_id)
    if user is not None:
        # Portal tokens carry iat in whole seconds and the core refuses iat < cutoff: round
        # the cutoff up so a session opened earlier in this very second does not survive.
        user.tokens_valid_after = utcnow().replace(microsecond=0) + timedelta(seconds=1)


def issued_before_cutoff(user: Any, claims: dict[str, Any]) -> bool:
    """Was this token issued before the user's sessions were last ended?"""
    try:
        generation = int(claims.get(GENERATION_CLAIM, 0))
    except (TypeError, ValueError):
        return True
    if generation < (user.token_generation or 0):
        return True
    if user.tokens_valid_after is None:
        return False
    return int(claims.get("iat", 0)) < int(user.tokens_valid_after.timestamp())
