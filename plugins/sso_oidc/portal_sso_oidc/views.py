"""Routes under /sso/oidc: start the sign-in, and the redirect URI the provider answers to."""

from __future__ import annotations

import hmac
from dataclasses import asdict

from flask import Blueprint, current_app, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from portal.plugins import NotAuthenticated, NotFound, ValidationFailed
from portal.plugins.i18n import gettext
from portal.plugins.services import provision_user
from portal.plugins.web import safe_next_path, start_browser_session
from portal_sso_oidc import protocol
from portal_sso_oidc.identity import identity_from_claims
from portal_sso_oidc.settings import PROVIDER, OidcSettings, load_settings

bp = Blueprint("sso_oidc", __name__, url_prefix="/sso/oidc")

LOGIN_COOKIE = "portal_oidc_login"
# Long enough to type a password and answer a second factor at the provider.
LOGIN_MAX_AGE_SECONDS = 900


def _configured() -> OidcSettings:
    settings = load_settings()
    if not settings.configured:
        raise NotFound("OpenID Connect sign-in is not set up on this portal", code="oidc_off")
    return settings


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="portal.sso_oidc.login")


def _redirect_uri() -> str:
    return url_for("sso_oidc.callback", _external=True)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/login")
def login() -> Response:
    settings = _configured()
    next_path = safe_next_path(request.args.get("next")) or "/"
    url, pending = protocol.authorization_url(settings, _redirect_uri(), next_path)
    response = redirect(url)
    response.set_cookie(
        LOGIN_COOKIE,
        _serializer().dumps(asdict(pending)),
        max_age=LOGIN_MAX_AGE_SECONDS,
        path=bp.url_prefix,
        httponly=True,
        # Lax: the provider brings the browser back with a top-level GET, which carries it.
        samesite="Lax",
        secure=request.is_secure,
    )
    return _no_store(response)


def _pending_login() -> protocol.LoginRequest:
    raw = request.cookies.get(LOGIN_COOKIE)
    expired = ValidationFailed(
        "this sign-in has expired or was started in another browser; start it again from "
        "the sign-in page",
        code="oidc_state_invalid",
    )
    if not raw:
        raise expired
    try:
        data = _serializer().loads(raw, max_age=LOGIN_MAX_AGE_SECONDS)
        pending = protocol.LoginRequest(**data)
    except (BadSignature, TypeError):
        raise expired from None
    if not hmac.compare_digest(pending.state.encode(), request.args.get("state", "").encode()):
        raise expired
    return pending


@bp.get("/callback")
def callback() -> Response:
    settings = _configured()
    if request.args.get("error"):
        described = request.args.get("error_description") or request.args["error"]
        raise NotAuthenticated(
            gettext(
                "%(provider)s did not sign you in: %(reason)s",
                provider=settings.label,
                reason=described[:200],
            ),
            code="oidc_denied",
        )
    pending = _pending_login()
    code = request.args.get("code")
    if not code:
        raise ValidationFailed("the sign-in answer carries no code", code="oidc_code_missing")
    issuer, claims = protocol.complete(settings, _redirect_uri(), pending, code)
    # The request owns the transaction: a refused sign-in (an answer >= 400) writes nothing.
    user, _created = provision_user(identity_from_claims(settings, issuer, claims))
    response = redirect(safe_next_path(pending.next_path) or "/", code=303)
    response.delete_cookie(LOGIN_COOKIE, path=bp.url_prefix)
    return _no_store(start_browser_session(response, user, provider=PROVIDER))
