from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from portal.core import accounts, unit_of_work, users
from portal.core.errors import PortalError
from portal.core.registry import plugins
from portal.core.settings import get_setting
from portal.extensions import limiter
from portal.web.session import (
    current_browser_user,
    end_browser_session,
    provider_logout_url,
    safe_next_path,
    start_browser_session,
)

web = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)


@web.app_context_processor
def inject_site():
    return {"school_name": get_setting("school_name")}


@web.get("/")
def index():
    user = current_browser_user()
    if user is None:
        return redirect(url_for("web.login_page"))
    from portal.web.dashboard import render_dashboard

    return render_dashboard(user)


@web.get("/login")
def login_page():
    if current_browser_user() is not None:
        return redirect(
            safe_next_path(request.args.get("next"), default=None) or url_for("web.index")
        )
    providers = [
        p for p in plugins().auth_providers.values() if p.login_url(request.args.get("next"))
    ]
    return render_template(
        "login.html",
        providers=providers,
        email="",
        error=None,
        sign_up_mode=accounts.sign_up_mode().value,
    )


@web.post("/login")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def login_submit():
    email = request.form.get("email", "")
    try:
        user = users.authenticate(email, request.form.get("password", ""))
        unit_of_work.commit()
    except PortalError as exc:
        providers = [p for p in plugins().auth_providers.values() if p.login_url(None)]
        # 429 keeps its status (and Retry-After) so clients and proxies see the lockout.
        status = 429 if exc.status == 429 else 401
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        return (
            render_template(
                "login.html",
                providers=providers,
                email=email,
                error=exc.shown,
                sign_up_mode=accounts.sign_up_mode().value,
            ),
            status,
            headers,
        )
    destination = safe_next_path(request.form.get("next"), default=None) or url_for("web.index")
    return start_browser_session(redirect(destination), user)


@web.post("/logout")
def logout():
    # After an SSO sign-in, continue to the provider's logout page (single logout).
    response = redirect(provider_logout_url() or url_for("web.login_page"))
    end_browser_session(response)
    return response
