"""What happens when insp signs someone in or out. No request objects here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from portal.core import audit, auth_tokens, users
from portal.core.errors import Forbidden, ValidationFailed
from portal.core.models import SsoToken, User, UserIdentity
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins.types import ExternalIdentity
from portal_sso_insp.settings import PROVIDER, InspSettings
from portal_sso_insp.tokens import TokenRejected, verify_login_token, verify_logout_token

log = logging.getLogger(__name__)

# sso_tokens.provider values: login and logout jtis are kept apart.
LOGIN_KIND = PROVIDER
LOGOUT_KIND = f"{PROVIDER}:logout"


def _consume_jti(kind: str, claims: dict[str, Any], settings: InspSettings) -> SsoToken:
    """Record the jti as used; a second use is refused (replay).

    The row lives until the token could no longer pass the expiry check (exp + leeway), so
    the purge job never re-opens a replay window.
    """
    jti = claims["jti"]
    seen = db.session.execute(db.select(SsoToken.id).filter_by(provider=kind, jti=jti)).first()
    if seen is not None:
        raise TokenRejected("this sign-in link has already been used; go back to the main website "
                            "and click again", code="token_replayed")
    row = SsoToken(provider=kind, jti=jti, used_at=utcnow(),
                   expires_at=datetime.fromtimestamp(int(claims["exp"]) + settings.leeway, UTC))
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # Two requests with the same token at once: the unique (provider, jti) decides.
        db.session.rollback()
        raise TokenRejected("this sign-in link has already been used", code="token_replayed") from exc
    return row


def identity_from_claims(settings: InspSettings, claims: dict[str, Any]) -> ExternalIdentity:
    role = settings.role_map.get(claims["role"].strip())
    if role is None:
        raise Forbidden(
            f"your role on the main website ({claims['role']!r}) gives no access to the portal; "
            "ask the school's administrator",
            code="role_not_mapped",
        )
    phone = claims.get("phone") or None
    if phone is not None:
        try:
            phone = users.normalise_phone(phone)
        except ValidationFailed:
            # A badly typed phone number on insp must not lock a student out; SMS just stays off.
            log.warning("ignoring unusable phone number from insp for subject %s", claims["sub"])
            phone = None
    return ExternalIdentity(provider=PROVIDER, subject=claims["sub"], email=claims["email"].strip(),
                            name=claims["name"].strip(), role=role, phone=phone)


def sign_in(settings: InspSettings, token: Any) -> tuple[User, bool]:
    """Verify insp's token, provision the user, and commit. Nothing is written on failure."""
    try:
        claims = verify_login_token(settings, token)
        identity = identity_from_claims(settings, claims)
        used = _consume_jti(LOGIN_KIND, claims, settings)
        user, created = users.provision_identity(identity)
        used.user_id = user.id
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return user, created


def back_channel_logout(settings: InspSettings, token: Any) -> User | None:
    """insp says the user signed out: every portal token issued before now is refused."""
    try:
        claims = verify_logout_token(settings, token)
        used = _consume_jti(LOGOUT_KIND, claims, settings)
        link = db.session.execute(
            db.select(UserIdentity).filter_by(provider=PROVIDER, subject=claims["sub"])
        ).scalar_one_or_none()
        user = db.session.get(User, link.user_id) if link is not None else None
        if user is not None:
            used.user_id = user.id
            auth_tokens.revoke_all_for_user(user.id)
            # Portal tokens carry iat in whole seconds and the core refuses iat < cutoff: round
            # the cutoff up so a session opened earlier in this very second does not survive.
            user.tokens_valid_after = utcnow().replace(microsecond=0) + timedelta(seconds=1)
            audit.record(None, "user.logout", "user", user.id, via=f"{PROVIDER}-back-channel")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return user


def linked_subject(user: User) -> str | None:
    """The insp user id linked to this portal user, if any."""
    return db.session.execute(
        db.select(UserIdentity.subject).filter_by(provider=PROVIDER, user_id=user.id)
    ).scalar_one_or_none()


def purge_expired_tokens() -> int:
    """Periodic job: used jtis past their expiry (plus leeway) can no longer be replayed."""
    result = db.session.execute(
        db.delete(SsoToken).where(SsoToken.provider.in_([LOGIN_KIND, LOGOUT_KIND]),
                                  SsoToken.expires_at < utcnow())
    )
    db.session.commit()
    return result.rowcount or 0
