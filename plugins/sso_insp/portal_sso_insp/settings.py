"""Configuration of the insp SSO, read from the app config (PORTAL_SSO_INSP_* variables)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from flask import current_app

from portal.plugins import PortalRole, ServiceUnavailable
from portal.plugins.i18n import gettext

PROVIDER = "insp"
PREFIX = "SSO_INSP_"

HMAC_ALGORITHMS = {"HS256", "HS384", "HS512"}
PUBLIC_KEY_ALGORITHMS = {
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
}

# insp role -> portal role. "admin" is deliberately absent: making someone a portal
# administrator from the main website is an explicit decision (SSO_INSP_ROLE_MAP).
DEFAULT_ROLE_MAP: dict[str, PortalRole] = {"student": "student", "teacher": "teacher"}
PORTAL_ROLES = {"admin", "teacher", "student"}


@dataclass(frozen=True)
class InspSettings:
    issuer: str | None
    audience: str
    hs_secret: str | None
    public_key: str | None
    jwks_url: str | None
    algorithms: frozenset[str]
    leeway: int
    max_lifetime: int
    role_map: Mapping[str, PortalRole]
    label: str
    login_url: str | None
    logout_url: str | None
    link_url: str | None
    link_secret: str | None
    link_issuer: str
    link_audience: str | None
    link_ttl: int
    jwks_cache_seconds: int
    jwks_cooldown_seconds: float
    jwks_timeout_seconds: float

    @property
    def configured(self) -> bool:
        return bool(self.issuer and (self.hs_secret or self.public_key or self.jwks_url))

    @property
    def link_enabled(self) -> bool:
        return bool(self.link_url and self.link_secret and self.link_audience)


def _get(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = config.get(PREFIX + key, default)
    return default if value == "" else value


def _text(value: Any) -> str | None:
    # PORTAL_* variables are JSON-parsed: an all-digit secret would arrive as an int.
    return None if value is None else str(value)


def parse_role_map(value: Any) -> dict[str, PortalRole]:
    """A dict, a JSON object, or "insp_role=portal_role,other=student"."""
    if value is None:
        return dict(DEFAULT_ROLE_MAP)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            value = json.loads(text)
        else:
            value = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    mapping = {str(k).strip(): str(v).strip() for k, v in dict(value).items()}
    bad = sorted(v for v in mapping.values() if v not in PORTAL_ROLES)
    if bad:
        raise ServiceUnavailable(
            gettext(
                "SSO_INSP_ROLE_MAP maps to unknown portal roles %(roles)s; use admin, teacher "
                "or student",
                roles=", ".join(bad),
            ),
            code="sso_misconfigured",
        )
    # Every value was just checked against PORTAL_ROLES.
    return cast(dict[str, PortalRole], mapping)


def _algorithms(
    config: Mapping[str, Any], hs_secret: str | None, has_public_key: bool
) -> frozenset[str]:
    """The allow-list: configured, or derived from the keys given. Never "none"."""
    wanted = _get(config, "ALGORITHMS")
    if wanted is None:
        algs = set()
        if hs_secret:
            algs.add("HS256")
        if has_public_key:
            algs.add("RS256")
    else:
        if isinstance(wanted, str):
            wanted = wanted.split(",")
        algs = {str(a).strip() for a in wanted if str(a).strip()}
    # An algorithm is usable only with its own kind of key: this is what prevents the
    # HS/RS confusion attack (a public key used as an HMAC secret).
    usable = (HMAC_ALGORITHMS if hs_secret else set()) | (
        PUBLIC_KEY_ALGORITHMS if has_public_key else set()
    )
    return frozenset(algs & usable)


def _read_key(value: str | None) -> str | None:
    """A PEM text, or the path of a PEM file."""
    if not value:
        return None
    if "-----BEGIN" in value:
        return value
    return Path(value).read_text()


def load_settings(config: Mapping[str, Any] | None = None) -> InspSettings:
    config = current_app.config if config is None else config
    hs_secret = _text(_get(config, "HS256_SECRET"))
    public_key = _read_key(_get(config, "PUBLIC_KEY"))
    jwks_url = _get(config, "JWKS_URL")
    issuer = _get(config, "ISSUER")
    audience = _get(config, "AUDIENCE") or str(config.get("BASE_URL", "")).rstrip("/")
    return InspSettings(
        issuer=issuer,
        audience=audience,
        hs_secret=hs_secret,
        public_key=public_key,
        jwks_url=jwks_url,
        algorithms=_algorithms(config, hs_secret, bool(public_key or jwks_url)),
        leeway=int(_get(config, "LEEWAY_SECONDS", 30)),
        max_lifetime=int(_get(config, "MAX_TOKEN_LIFETIME_SECONDS", 600)),
        role_map=parse_role_map(_get(config, "ROLE_MAP")),
        label=str(_get(config, "LABEL", "insp")),
        login_url=_get(config, "LOGIN_URL"),
        logout_url=_get(config, "LOGOUT_URL"),
        link_url=_get(config, "LINK_URL"),
        link_secret=_text(_get(config, "LINK_SECRET")) or hs_secret,
        link_issuer=_get(config, "LINK_ISSUER") or audience,
        link_audience=_get(config, "LINK_AUDIENCE") or issuer,
        link_ttl=int(_get(config, "LINK_TTL_SECONDS", 60)),
        jwks_cache_seconds=int(_get(config, "JWKS_CACHE_SECONDS", 300)),
        jwks_cooldown_seconds=float(_get(config, "JWKS_REFRESH_COOLDOWN_SECONDS", 30)),
        jwks_timeout_seconds=float(_get(config, "JWKS_TIMEOUT_SECONDS", 5)),
    )
