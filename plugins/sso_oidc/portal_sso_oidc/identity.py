"""From the provider's claims to the person the portal provisions."""

from __future__ import annotations

from typing import Any

from portal.plugins import ExternalIdentity, NotAuthenticated
from portal.plugins.i18n import gettext
from portal_sso_oidc.settings import PROVIDER, OidcSettings

# When a person's groups map to several roles, the most powerful one wins.
ROLE_PRECEDENCE = ("admin", "teacher", "student")
MAX_SUBJECT_LENGTH = 255


def portal_role(settings: OidcSettings, claims: dict[str, Any]) -> str:
    raw = claims.get(settings.role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw or [] if isinstance(v, str)]
    mapped = {settings.role_map[v] for v in values if v in settings.role_map}
    for role in ROLE_PRECEDENCE:
        if role in mapped:
            return role
    return settings.default_role


def linked_subject(issuer: str, sub: str) -> str:
    """The identity key: the pair (issuer, sub), as OpenID Connect Core section 2 defines."""
    subject = f"{issuer} {sub}"
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise NotAuthenticated(
            "this identity provider's user identifiers are too long for the portal",
            code="oidc_subject_too_long",
        )
    return subject


def identity_from_claims(
    settings: OidcSettings, issuer: str, claims: dict[str, Any]
) -> ExternalIdentity:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise NotAuthenticated(
            gettext(
                "%(provider)s did not share your email address with the portal; ask your "
                "school's IT to release the email claim to it",
                provider=settings.label,
            ),
            code="oidc_email_missing",
        )
    if claims.get("email_verified") is False:
        raise NotAuthenticated(
            gettext(
                "%(provider)s says your email address is not verified yet; verify it there "
                "and sign in again",
                provider=settings.label,
            ),
            code="oidc_email_unverified",
        )
    given = " ".join(str(claims.get(k) or "") for k in ("given_name", "family_name")).strip()
    name = str(claims.get("name") or given or email.split("@", 1)[0])
    return ExternalIdentity(
        provider=PROVIDER,
        subject=linked_subject(issuer, str(claims["sub"])),
        email=email,
        name=name,
        role=portal_role(settings, claims),  # type: ignore[arg-type]
        phone=claims.get("phone_number") if claims.get("phone_number_verified") else None,
    )
