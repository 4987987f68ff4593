"""The signed-in user's own profile page."""

from __future__ import annotations

from flask import render_template

from portal.core.models import User
from portal.core.notifications.channels import channel_choices
from portal.core.privacy import export
from portal.web.pages import web
from portal.web.support import calendar_feed_url, features, page, zone_names


@web.get("/profile")
@page()
def profile(user: User):
    return render_template(
        "profile.html",
        user=user,
        channels=channel_choices(),
        zones=zone_names(),
        calendar_url=calendar_feed_url(user),
        can_reset_feed=features()["calendar_feed_reset"],
        export_job=export.latest_job(user),
    )
