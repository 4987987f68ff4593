"""Calendar endpoints: FullCalendar events, moves and series edits with double-booking
warnings, and the private iCalendar feed."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from portal.api import api
from portal.api.content_schemas import (
    CalendarEventOut,
    CalendarEventsQuery,
    FeedOut,
    SeriesUpdatedOut,
    SeriesUpdateIn,
)
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import DateTimeIn, Model, Out, ScheduleOut
from portal.core import calendar, series
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


class SeriesFollowingIn(Model):
    rrule: str = Field(min_length=1, max_length=500)
    starts_at: DateTimeIn | None = Field(
        default=None, description="first occurrence of the new rule; default: this occurrence's"
    )
    duration_minutes: int | None = Field(default=None, ge=1, le=1440)


class SeriesFollowingOut(Out):
    class_id: int = Field(description="the class holding this occurrence and the later ones")
    split: bool = Field(description="true: a new class continues the series")
    occurrences: list[ScheduleOut]
    kept_moved: list[ScheduleOut] = Field(description="moved by hand and still moved")
    dropped_moved: list[datetime] = Field(
        description="starts of hand-moved occurrences whose day is not in the new rule"
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/series",
    "POST",
    summary="Change the recurrence of this occurrence and the following ones (split the series)",
    body=SeriesFollowingIn,
    response=SeriesFollowingOut,
    tags=["schedules"],
    errors=[409],
)
def change_following(schedule_id: int, body: SeriesFollowingIn):
    result = series.change_following(
        current_actor(),
        schedule_id,
        rrule=body.rrule,
        starts_at=body.starts_at,
        duration_minutes=body.duration_minutes,
    )
    return SeriesFollowingOut(
        class_id=result.klass.id,
        split=result.split,
        occurrences=[ScheduleOut.model_validate(s) for s in result.occurrences],
        kept_moved=[ScheduleOut.model_validate(s) for s in result.kept_moved],
        dropped_moved=result.dropped_moved,
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
