"""What happens when insp signs someone in or out. No request objects here.

Everything runs in one unit of work (portal.plugins.services): the used jti, the account
and its link are committed together, or nothing is.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal.plugins import ExternalIdentity, Forbidden, UserInfo, ValidationFailed, services
from portal.plugins.i18n import gettext
from portal_sso_insp.models import SsoToken
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
    session = services.session()
    jti = claims["jti"]
    seen = session.execute(select(SsoToken.id).filter_by(provider=kind, jti=jti)).first()
    if seen is not None:
        raise TokenRejected(
            "this sign-in link has already been used; go back to the main website and click again",
            code="token_replayed",
        )
    row = SsoToken(
        provider=kind,
        jti=jti,
        used_at=services.now(),
        expires_at=datetime.fromtimestamp(int(claims["exp"]) + settings.leeway, UTC),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        # Two requests with the same token at once: the unique (provider, jti) decides.
        raise TokenRejected(
            "this sign-in link has already been used", code="token_replayed"
        ) from exc
    return row


def identity_from_claims(settings: InspSettings, claims: dict[str, Any]) -> ExternalIdentity:
    role = settings.role_map.get(claims["role"].strip())
    if role is None:
        raise Forbidden(
            gettext(
                "your role on the main website ('%(role)s') gives no access to the portal; "
                "ask the school's administrator",
                role=claims["role"],
            ),
            code="role_not_mapped",
        )
    phone = claims.get("phone") or None
    if phone is not None:
        try:
            phone = services.normalise_phone(phone)
        except ValidationFailed:
            # A badly typed phone number on insp must not lock a student out; SMS just stays off.
            log.warning("ignoring unusable phone number from insp for subject %s", claims["sub"])
            phone = None
    return ExternalIdentity(
        provider=PROVIDER,
        subject=claims["sub"],
        email=claims["email"].strip(),
        name=claims["name"].strip(),
        role=role,
        phone=phone,
    )


def sign_in(settings: InspSettings, token: Any) -> tuple[UserInfo, bool]:
    """Verify insp's token, provision the user, and commit. Nothing is written on failure."""
    with services.unit_of_work():
        claims = verify_login_token(settings, token)
        identity = identity_from_claims(settings, claims)
        used = _consume_jti(LOGIN_KIND, claims, settings)
        user, created = services.provision_user(identity)
        used.user_id = user.id
    return user, created


def back_channel_logout(settings: InspSettings, token: Any) -> UserInfo | None:
    """insp says the user signed out: every portal token issued before now is refused."""
    with services.unit_of_work():
        claims = verify_logout_token(settings, token)
        used = _consume_jti(LOGOUT_KIND, claims, settings)
        user = services.find_user_by_identity(PROVIDER, claims["sub"])
        if user is not None:
            used.user_id = user.id
            services.sign_out_user(user.id, reason=f"{PROVIDER}-back-channel")
    return user


def linked_subject(user_id: int) -> str | None:
    """The insp user id linked to this portal user, if any."""
    return services.identity_subject(PROVIDER, user_id)


def purge_expired_tokens() -> int:
    """Periodic job: used jtis past their expiry (plus leeway) can no longer be replayed."""
    with services.unit_of_work():
        result = services.session().execute(
            delete(SsoToken).where(
                SsoToken.provider.in_([LOGIN_KIND, LOGOUT_KIND]),
                SsoToken.expires_at < services.now(),
            )
        )
    return result.rowcount or 0
