"""Unsubscribe links in notification emails and texts (signed; no login needed).

GET shows a confirmation button (link scanners must not unsubscribe anyone); POST turns the
channel off. Mail clients' one-click unsubscribe (RFC 8058) POSTs to the same URL.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.core import notifications, unit_of_work
from portal.core.errors import PortalError
from portal.core.notifications.channels import channel_label
from portal.extensions import db

unsubscribe_bp = Blueprint("unsubscribe", __name__)


@unsubscribe_bp.get("/unsubscribe/<token>")
def confirm(token: str):
    try:
        user, channel = notifications.read_unsubscribe_token(token)
    except PortalError as exc:
        return render_template("notifications/unsubscribe.html", error=exc.shown), 404
    return render_template(
        "notifications/unsubscribe.html", user=user, channel=channel_label(channel), done=False
    )


@unsubscribe_bp.post("/unsubscribe/<token>")
def submit(token: str):
    try:
        user, channel = notifications.unsubscribe(token)
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        return render_template("notifications/unsubscribe.html", error=exc.shown), 404
    return render_template(
        "notifications/unsubscribe.html", user=user, channel=channel_label(channel), done=True
    )
