"""The OpenID Connect settings, read from the portal's config (PORTAL_SSO_OIDC_* variables)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from portal.plugins import ValidationFailed
from portal.plugins.i18n import gettext
from portal.plugins.services import config

PROVIDER = "oidc"
ROLES = ("admin", "teacher", "student")


@dataclass(frozen=True)
class OidcSettings:
    discovery_url: str
    client_id: str
    client_secret: str
    label: str = "your school"
    scopes: str = "openid email profile"
    # The claim naming the person's groups or roles, and how its values map to portal roles.
    role_claim: str = "groups"
    role_map: dict[str, str] = field(default_factory=dict)
    default_role: str = "student"
    timeout_seconds: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.discovery_url and self.client_id)


def _role_map(raw: object) -> dict[str, str]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ValidationFailed(
                "SSO_OIDC_ROLE_MAP must be a JSON object of claim value -> role",
                code="oidc_settings_invalid",
            ) from exc
    if not isinstance(raw, dict) or any(role not in ROLES for role in raw.values()):
        raise ValidationFailed(
            gettext(
                "SSO_OIDC_ROLE_MAP must map claim values to one of %(roles)s",
                roles=", ".join(ROLES),
            ),
            code="oidc_settings_invalid",
        )
    return {str(value): str(role) for value, role in raw.items()}


def load_settings() -> OidcSettings:
    default_role = str(config("SSO_OIDC_DEFAULT_ROLE", "student"))
    if default_role not in ROLES:
        raise ValidationFailed(
            gettext("SSO_OIDC_DEFAULT_ROLE must be one of %(roles)s", roles=", ".join(ROLES)),
            code="oidc_settings_invalid",
        )
    return OidcSettings(
        discovery_url=str(config("SSO_OIDC_DISCOVERY_URL", "") or ""),
        client_id=str(config("SSO_OIDC_CLIENT_ID", "") or ""),
        client_secret=str(config("SSO_OIDC_CLIENT_SECRET", "") or ""),
        label=str(config("SSO_OIDC_LABEL", "") or "your school"),
        scopes=str(config("SSO_OIDC_SCOPES", "") or "openid email profile"),
        role_claim=str(config("SSO_OIDC_ROLE_CLAIM", "") or "groups"),
        role_map=_role_map(config("SSO_OIDC_ROLE_MAP", {}) or {}),
        default_role=default_role,
        timeout_seconds=float(config("SSO_OIDC_TIMEOUT_SECONDS", 10) or 10),
    )
