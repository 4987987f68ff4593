"""Routes under /sso/insp: login (GET or POST), link back to insp, back-channel logout."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, jsonify, redirect, request

from portal.plugins import Forbidden, NotFound, PortalError, ValidationFailed
from portal.plugins.web import current_browser_user, safe_next_path, start_browser_session
from portal_sso_insp import service
from portal_sso_insp.settings import PROVIDER, load_settings
from portal_sso_insp.tokens import make_link_token

bp = Blueprint("sso_insp", __name__, url_prefix="/sso/insp")


def _no_leak(response):
    # The URL carried a credential: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _append_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """insp redirects (GET ?token=) or posts a form (token=) here; we answer with the session."""
    token = request.form.get("token") or request.args.get("token")
    if not token:
        raise ValidationFailed(
            "no sign-in token was sent; start again from the main website", code="token_missing"
        )
    next_path = safe_next_path(request.form.get("next") or request.args.get("next"))
    user, _created = service.sign_in(load_settings(), token)
    # 303: after a POST the browser must follow with a GET.
    response = redirect(next_path, code=303)
    return _no_leak(start_browser_session(response, user, provider=PROVIDER))


@bp.get("/link")
def link():
    """Send the signed-in user back to insp with a short-lived token insp can verify."""
    settings = load_settings()
    link_url = settings.link_url
    if not settings.link_enabled or not link_url:
        raise NotFound(
            "going back to the main website signed in is not set up on this portal",
            code="sso_link_disabled",
        )
    user = current_browser_user()
    if user is None:
        return redirect("/login?" + urlencode({"next": request.full_path.rstrip("?")}))
    subject = service.linked_subject(user.id)
    if subject is None:
        raise Forbidden(
            "your portal account is not linked to an account on the main website",
            code="sso_not_linked",
        )
    params = {"token": make_link_token(settings, subject=subject, user=user)}
    next_path = safe_next_path(request.args.get("next"), default=None)
    if next_path:
        params["next"] = next_path
    return _no_leak(redirect(_append_query(link_url, params)))


@bp.post("/backchannel-logout")
def backchannel_logout():
    """OpenID Connect Back-Channel Logout style: form field logout_token (a signed JWT)."""
    try:
        user = service.back_channel_logout(load_settings(), request.form.get("logout_token"))
    except PortalError as exc:
        status = 503 if exc.status == 503 else 400
        response = jsonify({"error": {"code": exc.code, "message": exc.message}})
        return _no_leak(response), status
    return _no_leak(jsonify({"logged_out": user is not None})), 200
