"""Sign-in with the school's OpenID Connect identity provider. See docs/sso.md."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from flask import url_for

from portal.plugins import PortalError, hookimpl
from portal.plugins.web import safe_next_path
from portal_sso_oidc.privacy import erase_user_data, export_user_data  # noqa: F401  (hooks)
from portal_sso_oidc.settings import PROVIDER, OidcSettings, load_settings

log = logging.getLogger(__name__)


def _settings() -> OidcSettings | None:
    """Settings, or None when they are broken: the sign-in page must render regardless."""
    try:
        settings = load_settings()
    except PortalError:
        log.exception("the OpenID Connect settings are invalid; its button is hidden")
        return None
    return settings if settings.configured else None


class OidcAuthProvider:
    """The AuthProvider the sign-in page lists as "Sign in with <label>"."""

    name = PROVIDER

    @property
    def label(self) -> str:
        try:
            settings = _settings()
        except RuntimeError:  # outside an app context (plugin registration)
            return "your school"
        return settings.label if settings else "your school"

    def login_url(self, next_path: str | None) -> str | None:
        if _settings() is None:
            return None
        url = url_for("sso_oidc.login")
        next_path = safe_next_path(next_path, default=None)
        return url + "?" + urlencode({"next": next_path}) if next_path else url

    def logout_url(self) -> str | None:
        from portal_sso_oidc import protocol

        settings = _settings()
        if settings is None:
            return None
        return protocol.logout_url(settings, url_for("web.login_page", _external=True))


@hookimpl
def register_auth_providers(register) -> None:
    register(OidcAuthProvider())


@hookimpl
def page_csp_sources() -> dict[str, list[str]]:
    # Logout is a form POST whose answer redirects to the provider's end-session page: the
    # browser checks that redirect against form-action. Only the configured URL and already
    # cached metadata are read: a page must not wait for the provider.
    from portal_sso_oidc import protocol

    settings = _settings()
    if settings is None:
        return {}
    urls = [settings.discovery_url, protocol.cached_end_session_endpoint(settings) or ""]
    origins = {f"{p.scheme}://{p.netloc}" for p in map(urlsplit, urls) if p.netloc}
    return {"form-action": sorted(origins)}


@hookimpl
def register_blueprints(app) -> None:
    from portal_sso_oidc.views import bp

    app.register_blueprint(bp)
