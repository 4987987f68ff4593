from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_current_user,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)

from portal.core import users
from portal.core.errors import PortalError
from portal.core.registry import plugins
from portal.core.settings import get_setting
from portal.extensions import db, limiter
from portal.web.support import safe_next

web = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")


def page_user():
    try:
        verify_jwt_in_request(optional=True)
    except Exception:
        return None
    return get_current_user()


@web.app_context_processor
def inject_site():
    return {"school_name": get_setting("school_name")}


@web.get("/")
def index():
    user = page_user()
    if user is None:
        return redirect(url_for("web.login_page"))
    from portal.web.dashboard import render_dashboard

    return render_dashboard(user)


@web.get("/login")
def login_page():
    if page_user() is not None:
        return redirect(safe_next(request.args.get("next")) or url_for("web.index"))
    providers = [p for p in plugins().auth_providers.values() if p.login_url(request.args.get("next"))]
    return render_template("login.html", providers=providers, email="", error=None)


@web.post("/login")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def login_submit():
    email = request.form.get("email", "")
    try:
        user = users.authenticate(email, request.form.get("password", ""))
        db.session.commit()
    except PortalError as exc:
        providers = [p for p in plugins().auth_providers.values() if p.login_url(None)]
        return render_template("login.html", providers=providers, email=email, error=exc.message), 401
    response = redirect(safe_next(request.form.get("next")) or url_for("web.index"))
    set_access_cookies(response, create_access_token(identity=str(user.id), additional_claims={"role": user.role}))
    set_refresh_cookies(response, create_refresh_token(identity=str(user.id)))
    return response


@web.post("/logout")
def logout():
    response = redirect(url_for("web.login_page"))
    unset_jwt_cookies(response)
    return response
