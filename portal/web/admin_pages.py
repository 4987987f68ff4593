"""Administration pages: meeting backends, users and blocks, notification delivery, site
settings, plugins."""

from __future__ import annotations

import math

from flask import render_template, request

from portal.core import access, backends, notification_review, site_settings, users
from portal.core.accounts import SIGN_UP_LABELS
from portal.core.models import User
from portal.core.notifications.channels import channel_choices, registered_channels
from portal.core.registry import plugin_manager, plugins
from portal.plugins.manager import describe_plugins
from portal.web.pages import web
from portal.web.support import page, zone_names

USERS_PER_PAGE = 50


@web.get("/admin")
@page("admin")
def admin_home(user: User):
    return render_template(
        "admin/home.html", user=user, counts=notification_review.status_counts(user)
    )


@web.get("/admin/backends")
@page("admin")
def admin_backends(user: User):
    types = [
        {
            "name": b.name,
            "label": b.label,
            "capabilities": b.capabilities.as_dict(),
            "settings_schema": dict(b.settings_schema),
            # tojson sorts keys: keep the plugin's own field order for the form.
            "field_order": list((b.settings_schema or {}).get("properties", {})),
        }
        for b in plugins().backends.values()
    ]
    configs = [
        {
            "id": c.id,
            "name": c.name,
            "backend": c.backend,
            "enabled": c.enabled,
            "is_default": c.is_default,
            "settings": backends.public_settings(c),
            "health_ok": c.health_ok,
            "health_message": c.health_message,
            "health_checked_at": c.health_checked_at,
            "installed": c.backend in plugins().backends,
        }
        for c in backends.list_configs(user)
    ]
    return render_template("admin/backends.html", user=user, types=types, configs=configs)


def _page_number() -> int:
    """?page=N of a paged list; anything else is the first page."""
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def page_count(total: int, per_page: int) -> int:
    """How many pages a list of `total` rows fills; an empty list still shows one page."""
    return max(1, math.ceil(total / per_page))


@web.get("/admin/users")
@page("admin")
def admin_users(user: User):
    q = (request.args.get("q") or "").strip()[:100]
    role = request.args.get("role") or None
    if role not in (None, "admin", "teacher", "student"):
        role = None
    page_no = _page_number()
    # The directory, not list_users: the page shows addresses, so the read is logged.
    entries, total = users.directory(
        user,
        role=role,
        query=q or None,
        limit=USERS_PER_PAGE,
        offset=(page_no - 1) * USERS_PER_PAGE,
    )
    rows = [entry.user for entry in entries]
    return render_template(
        "admin/users.html",
        user=user,
        rows=rows,
        total=total,
        q=q,
        role=role,
        page_no=page_no,
        pages=page_count(total, USERS_PER_PAGE),
        blocks=access.active_site_blocks([u.id for u in rows]),
    )


DELIVERIES_PER_PAGE = 50


@web.get("/admin/notifications")
@page("admin")
def admin_notifications(user: User):
    status = request.args.get("status", "failed")
    if status not in (*notification_review.STATUSES, "any"):
        status = "failed"
    channel = request.args.get("channel") or None
    if channel not in (None, *registered_channels()):
        channel = None
    page_no = _page_number()
    rows, total = notification_review.list_deliveries(
        user,
        status=None if status == "any" else status,
        channel=channel,
        limit=DELIVERIES_PER_PAGE,
        offset=(page_no - 1) * DELIVERIES_PER_PAGE,
    )
    return render_template(
        "admin/notifications.html",
        user=user,
        rows=rows,
        total=total,
        status=status,
        channel=channel,
        channels=registered_channels(),
        statuses=notification_review.STATUSES,
        counts=notification_review.status_counts(user),
        page_no=page_no,
        pages=page_count(total, DELIVERIES_PER_PAGE),
    )


@web.get("/admin/settings")
@page("admin")
def admin_settings(user: User):
    access.require_admin(user)
    return render_template(
        "admin/settings.html",
        user=user,
        settings=site_settings.read_site_settings(),
        zones=zone_names(),
        channels=channel_choices(),
        sign_up_choices=[(mode.value, label) for mode, label in SIGN_UP_LABELS.items()],
    )


@web.get("/admin/plugins")
@page("admin")
def admin_plugins(user: User):
    return render_template(
        "admin/plugins.html",
        user=user,
        rows=describe_plugins(plugin_manager()),
        backends=plugins().backends,
        providers=plugins().auth_providers,
        notifiers=plugins().notifiers,
    )
