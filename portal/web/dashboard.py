"""Home page: this week's calendar and the upcoming classes, in the user's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import g, render_template, request

from portal.core import access, classes, feedback, meetings
from portal.core.models import Class, User
from portal.core.types import utcnow
from portal.web.support import user_zone

UPCOMING_DAYS = 14


def _week_start(value: str | None, today: date) -> date:
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return day - timedelta(days=day.weekday())


def render_dashboard(user: User) -> str:
    g.page_user = user
    zone = user_zone(user)
    now = utcnow()
    today = now.astimezone(zone).date()
    monday = _week_start(request.args.get("week"), today)
    start = datetime.combine(monday, time(0), zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), zone)
    in_week = classes.schedules_in_range(user, start, end)
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        items = [s for s in in_week if s.starts_at.astimezone(zone).date() == day]
        days.append({"date": day, "items": items, "today": day == today})
    upcoming = [
        s
        for s in classes.schedules_in_range(
            user, now, now + timedelta(days=UPCOMING_DAYS), limit=30
        )
    ]
    my_classes: list[Class] = []
    if user.role in ("teacher", "admin"):
        my_classes, _ = classes.list_classes(user, limit=200)
    return render_template(
        "dashboard.html",
        user=user,
        days=days,
        monday=monday,
        prev_week=(monday - timedelta(days=7)).isoformat(),
        next_week=(monday + timedelta(days=7)).isoformat(),
        this_week=_week_start(None, today).isoformat(),
        upcoming=upcoming,
        ended=meetings.ended_schedule_ids([s.id for s in upcoming]),
        # No Join for a class that would refuse it: the join applies the same block rule.
        blocked=access.blocked_from(user, {s.class_id for s in upcoming})
        if user.role == "student"  # teachers and admins are never blocked from their classes
        else set(),
        to_rate=feedback.occurrences_to_rate(user),
        my_classes=my_classes,
        zone=zone,  # resolved once: formatting each occurrence must not look it up again
        zone_name=str(zone),
        join_opens_before=meetings.join_opens_before(manager=user.role != "student"),
        now=now,
    )
