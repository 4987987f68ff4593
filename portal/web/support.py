"""Helpers shared by the page views: who is signed in, role checks, time formatting,
the origin check of plain HTML form posts, and the optional page parts blueprints declare."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from flask import Flask, abort, current_app, g, redirect, request, url_for
from markupsafe import Markup

from portal.core.settings import site_timezone
from portal.features import compute_features
from portal.i18n import format_local, gettext
from portal.web.session import current_browser_user


def features() -> dict[str, Any]:
    """Computed once per app, after every blueprint (core and plugins) is registered."""
    cached = current_app.extensions.get("portal.web.features")
    if cached is None:
        cached = current_app.extensions["portal.web.features"] = compute_features(current_app)
    return cached


def calendar_feed_url(user: Any) -> str | None:
    found = features()["calendar_feed"]
    if not found or not user.calendar_token:
        return None
    endpoint, argument = found
    return url_for(endpoint, _external=True, **{argument: user.calendar_token})


@functools.lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """IANA zone names offered in time zone pickers (the API validates the choice)."""
    return tuple(sorted(available_timezones() | {"UTC"}))


def page(*roles: str) -> Callable:
    """A page for signed-in users (optionally of some roles). Anonymous visitors go to the
    login page and come back afterwards; a wrong role gets a readable 403 page."""

    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def handler(**kwargs: Any):
            user = current_browser_user()
            if user is None:
                return redirect(url_for("web.login_page", next=request.full_path.rstrip("?")))
            if roles and user.role not in roles:
                abort(403, description=gettext("this page is not available to your account"))
            g.page_user = user
            return view(user=user, **kwargs)

        return handler

    return wrap


def user_zone(user: Any) -> ZoneInfo:
    name = getattr(user, "timezone", None) or site_timezone()
    try:
        return ZoneInfo(name)
    except Exception:
        return ZoneInfo("UTC")


def local(dt: datetime | None, user: Any = None, kind: str = "datetime") -> str:
    """`dt` in `user`'s zone, in the page's language (portal.i18n.format_local: kind is
    datetime, date, time, weekday, month). Pages that format many times pass the ZoneInfo
    they resolved once instead of the user: resolving a user without a zone reads the
    school's setting, a query per call."""
    if dt is None:
        return ""
    zone = (
        user
        if isinstance(user, ZoneInfo)
        else user_zone(user if user is not None else g.get("page_user"))
    )
    return format_local(dt, zone, kind)


def local_date(day: date | None, kind: str = "date") -> str:
    """A calendar day (no zone) in the page's language: kind date, weekday or month."""
    return format_local(day, None, kind)


def same_site_form() -> bool:
    """Browsers send Origin (or at least Referer) with every form POST; one naming another
    site means a cross-site request forgery. Requests with neither come from non-browser
    clients, which cannot ride on a victim's cookies."""
    allowed = {request.host}
    base = urlsplit(current_app.config.get("BASE_URL") or "")
    if base.netloc:
        allowed.add(base.netloc)  # the public host behind a proxy
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc in allowed
    referer = request.headers.get("Referer")
    if referer:
        return urlsplit(referer).netloc in allowed
    return True


def csrf_field() -> Markup:
    """The hidden field a signed-in page's POST form carries: flask-jwt-extended checks the
    double-submit token of cookie sessions on form posts too (JWT_CSRF_CHECK_FORM), beside
    the origin check. api.js refreshes the value when the form is sent, in case the session
    was renewed after the page was rendered."""
    token = request.cookies.get(
        current_app.config.get("JWT_ACCESS_CSRF_COOKIE_NAME", "csrf_access_token"), ""
    )
    return Markup('<input type="hidden" name="csrf_token" value="%s">') % token


def plugin_admin_pages() -> list[Any]:
    """The plugins' admin pages (register_admin_pages), for the administration menu."""
    from portal.core.registry import plugins

    return plugins().admin_pages


def init_support(app: Flask, blueprint_name: str = "web") -> None:
    app.jinja_env.globals["plugin_admin_pages"] = plugin_admin_pages
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["local_date"] = local_date
    app.jinja_env.globals["page_zone"] = lambda user: str(user_zone(user))

    @app.before_request
    def check_form_origin():
        # CSRF defence for the HTML form posts of the web pages (login, logout): the
        # standard-header origin check, so plain forms and plugin-made forms need no token.
        # JSON API calls are protected by flask-jwt-extended's double-submit header instead.
        if (
            request.method == "POST"
            and request.blueprint == blueprint_name
            and not same_site_form()
        ):
            abort(
                400,
                description=gettext(
                    "this form was sent from another site; open the portal and try again"
                ),
            )
        return None
