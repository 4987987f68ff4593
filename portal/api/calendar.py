"""Calendar endpoints: FullCalendar events, moves and series edits with double-booking
warnings, and the private iCalendar feed."""

from __future__ import annotations

from portal.api import api
from portal.api.content_schemas import (
    CalendarEventOut,
    CalendarEventsQuery,
    FeedOut,
    SeriesUpdatedOut,
    SeriesUpdateIn,
)
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import ScheduleOut
from portal.core import calendar
from portal.features import serve_features


@endpoint(
    api,
    "/calendar/events",
    summary="Your occurrences as FullCalendar events (use as its events URL)",
    query=CalendarEventsQuery,
    response=list[CalendarEventOut],
    tags=["calendar"],
)
def calendar_events(query: CalendarEventsQuery):
    actor = current_actor()
    zone = calendar.display_zone(
        actor, query.timeZone if query.timeZone not in (None, "", "local") else None
    )
    start = calendar.parse_range_bound(query.start, zone)
    end = calendar.parse_range_bound(query.end, zone)
    return [
        CalendarEventOut(**event) for event in calendar.fullcalendar_events(actor, start, end, zone)
    ]


@endpoint(
    api,
    "/classes/<int:class_id>/series",
    "PATCH",
    summary="Change the time of day and/or length of all upcoming occurrences",
    body=SeriesUpdateIn,
    response=SeriesUpdatedOut,
    tags=["schedules"],
    errors=[409],
)
def update_series(class_id: int, body: SeriesUpdateIn):
    changed, conflicts = calendar.update_series(
        current_actor(), class_id, calendar.SeriesChange(**body.model_dump())
    )
    return SeriesUpdatedOut(
        changed=[ScheduleOut.model_validate(s) for s in changed],
        conflicts=[ScheduleOut.model_validate(s) for s in conflicts],
    )


@endpoint(
    api,
    "/calendar/feed",
    summary="Your private iCalendar feed URL (created on first use)",
    response=FeedOut,
    tags=["calendar"],
)
def feed_url():
    return FeedOut(url=calendar.feed_url(calendar.feed_token(current_actor())))


@endpoint(
    api,
    "/calendar/feed/reset",
    "POST",
    summary="Replace your feed URL; the old one stops working",
    response=FeedOut,
    tags=["calendar"],
)
def reset_feed():
    return FeedOut(url=calendar.feed_url(calendar.reset_feed_token(current_actor())))


@endpoint(
    api,
    "/calendar/feed/<token>.ics",
    summary="The iCalendar feed (the secret URL is the credential)",
    auth=False,
    tags=["calendar"],
)
def feed(token: str):
    user = calendar.user_for_feed_token(token)
    return (
        calendar.render_feed(user),
        200,
        {
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": 'inline; filename="classes.ics"',
            # The URL is secret: never let shared caches keep a copy.
            "Cache-Control": "private, max-age=300",
        },
    )


serve_features(api, "calendar_feed_reset", calendar_feed=("api.feed", "token"))
