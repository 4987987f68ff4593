"""Single sign-on from the school's main website ("insp"). See docs/sso.md."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from flask import current_app

from portal.plugins import PeriodicJob, PortalError, hookimpl
from portal.plugins.web import safe_next_path
from portal_sso_insp import models  # noqa: F401  (its table joins the portal's metadata)
from portal_sso_insp.privacy import erase_user_data, export_user_data  # noqa: F401  (hooks)
from portal_sso_insp.settings import PROVIDER, InspSettings, load_settings

log = logging.getLogger(__name__)


def _settings() -> InspSettings | None:
    """Settings, or None when they are broken: the sign-in page must render regardless."""
    try:
        return load_settings()
    except (PortalError, OSError, ValueError):
        log.exception("the insp SSO settings are invalid; the insp button is hidden")
        return None


class InspAuthProvider:
    """The AuthProvider the core lists on the sign-in page and consults at logout."""

    name = PROVIDER

    @property
    def label(self) -> str:
        try:
            return str(current_app.config.get("SSO_INSP_LABEL") or "insp")
        except RuntimeError:  # outside an app context (plugin registration)
            return "insp"

    def login_url(self, next_path: str | None) -> str | None:
        settings = _settings()
        if settings is None or not settings.configured or not settings.login_url:
            return None
        # insp sends `next` back unchanged with the token; the portal checks it again then.
        next_path = safe_next_path(next_path, default=None)
        if not next_path:
            return settings.login_url
        sep = "&" if "?" in settings.login_url else "?"
        return settings.login_url + sep + urlencode({"next": next_path})

    def logout_url(self) -> str | None:
        settings = _settings()
        return settings.logout_url if settings is not None else None


def _purge() -> int:
    from portal_sso_insp.service import purge_expired_tokens

    return purge_expired_tokens()


@hookimpl
def register_auth_providers(register) -> None:
    register(InspAuthProvider())


def _origin(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return (
        f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and parts.netloc
        else None
    )


@hookimpl
def register_blueprints(app) -> None:
    from portal_sso_insp.views import bp

    app.register_blueprint(bp)


@hookimpl
def page_csp_sources() -> dict[str, list[str]]:
    # The portal's logout form ends in a redirect to insp's logout page; the browser checks
    # that redirect against the CSP form-action list.
    settings = _settings()
    origin = _origin(settings.logout_url if settings is not None else None)
    return {"form-action": [origin]} if origin else {}


@hookimpl
def register_migrations(register) -> None:
    register("sso_insp", Path(__file__).parent / "migrations")


@hookimpl
def register_periodic_jobs(register) -> None:
    register(PeriodicJob("sso-insp-purge-tokens", 3600, _purge))


@hookimpl
def register_commands(cli) -> None:
    from portal_sso_insp.cli import sso_group

    cli.add_command(sso_group)
