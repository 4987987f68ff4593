"""Calendar views of class occurrences: time zones, FullCalendar events, whole-series
edits with double-booking warnings, and the private iCalendar feed.

Times are stored in UTC. They are shown in the viewer's zone (their profile, else the
school's), and each event also carries the class's own zone and the school's zone so a
student abroad sees both "your time" and "school time".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal.core import access, audit, classes, signals
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.core.models import Class, ClassStatus, Enrolment, Role, Schedule, ScheduleStatus, User
from portal.core.settings import site_timezone
from portal.core.timezones import check_timezone
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

FEED_PAST = timedelta(days=60)
FEED_FUTURE = timedelta(days=400)
FEED_LIMIT = 2000


def display_zone(user: User, requested: str | None = None) -> str:
    """The zone to show times in: an explicit request, the user's profile, else the school's."""
    if requested:
        return check_timezone(requested)
    return user.timezone or site_timezone()


def parse_range_bound(value: str, zone: str) -> datetime:
    """FullCalendar sends ISO dates, datetimes with an offset, or naive datetimes meant in its
    `timeZone`: accept all three, naive ones read in `zone`."""
    text = value.strip().replace(" ", "+") if "T" in value and " " in value else value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time())
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            gettext("not an ISO 8601 date or date-time: '%(value)s'", value=value),
            code="invalid_datetime",
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(ZoneInfo("UTC"))


def _local(value: datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


def fullcalendar_events(
    actor: User, start: datetime, end: datetime, zone: str
) -> list[dict[str, Any]]:
    """Event objects in FullCalendar's format (id, title, start, end, url, extendedProps)."""
    school_zone = site_timezone()
    base = current_app.config["BASE_URL"].rstrip("/")
    events = []
    for schedule in classes.schedules_in_range(actor, start, end):
        klass = schedule.klass
        cancelled = schedule.status == ScheduleStatus.CANCELLED.value
        moved = (
            schedule.original_starts_at is not None
            and schedule.original_starts_at != schedule.starts_at
        )
        class_names = (
            ["portal-class"] + (["cancelled"] if cancelled else []) + (["moved"] if moved else [])
        )
        events.append(
            {
                "id": str(schedule.id),
                "groupId": f"class-{klass.id}",
                "title": klass.title + (" (cancelled)" if cancelled else ""),
                "start": _local(schedule.starts_at, zone),
                "end": _local(schedule.ends_at, zone),
                "allDay": False,
                "url": f"{base}/classes/{klass.id}?schedule={schedule.id}",
                "classNames": class_names,
                "editable": access.can_manage_class(actor, klass) and not cancelled,
                "extendedProps": {
                    "schedule_id": schedule.id,
                    "class_id": klass.id,
                    "status": schedule.status,
                    "moved": moved,
                    "teacher": klass.teacher.name,
                    "timezone": zone,
                    "class_timezone": klass.timezone,
                    "class_start": _local(schedule.starts_at, klass.timezone),
                    "school_timezone": school_zone,
                    "school_start": _local(schedule.starts_at, school_zone),
                    "utc_start": _local(schedule.starts_at, "UTC"),
                },
            }
        )
    return events


def move_occurrence(
    actor: User, schedule_id: int, starts_at: datetime, duration_minutes: int | None = None
) -> tuple[Schedule, list[Schedule]]:
    """Move one occurrence (classes.reschedule_occurrence) and say what it now overlaps.
    A double-booking is a warning, not an error: teachers sometimes mean it."""
    schedule = classes.get_schedule_for(actor, schedule_id)
    if schedule.klass.status == ClassStatus.CANCELLED.value:
        raise Conflict("this class is cancelled", code="class_cancelled")
    if starts_at.tzinfo is not None:
        starts_at = starts_at.astimezone(ZoneInfo("UTC"))  # stored and answered in UTC
    schedule = classes.reschedule_occurrence(actor, schedule_id, starts_at, duration_minutes)
    db.session.flush()
    return schedule, classes.teacher_conflicts(
        schedule.klass.teacher_id,
        schedule.starts_at,
        schedule.ends_at,
        exclude_schedule_ids={schedule.id},
    )


@dataclass
class SeriesChange:
    start_time: time | None = None  # new local start time (class zone) of every occurrence
    duration_minutes: int | None = None
    include_moved: bool = False  # also shift occurrences that were moved one by one


def update_series(
    actor: User, class_id: int, change: SeriesChange
) -> tuple[list[Schedule], list[Schedule]]:
    """Change the time of day and/or length of every upcoming occurrence of a series, in the
    class's own zone (so 09:00 stays 09:00 across daylight-saving changes). Occurrences a
    teacher moved individually keep their own time unless include_moved. Returns the changed
    occurrences and the teacher's other occurrences they now overlap."""
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    if klass.status == ClassStatus.CANCELLED.value:
        raise Conflict("this class is cancelled", code="class_cancelled")
    if change.start_time is None and change.duration_minutes is None:
        raise ValidationFailed("give start_time and/or duration_minutes")
    if change.duration_minutes is not None and not 1 <= change.duration_minutes <= 1440:
        raise ValidationFailed("duration must be between 1 and 1440 minutes")
    zone = ZoneInfo(klass.timezone)
    changed: list[Schedule] = []
    for schedule in classes.upcoming_schedules(klass.id):
        moved = (
            schedule.original_starts_at is not None
            and schedule.original_starts_at != schedule.starts_at
        )
        if moved and not change.include_moved:
            continue
        minutes = change.duration_minutes or int(
            (schedule.ends_at - schedule.starts_at).total_seconds() // 60
        )
        new_start = schedule.starts_at
        if change.start_time is not None:
            local_day = schedule.starts_at.astimezone(zone).date()
            new_start = datetime.combine(
                local_day, change.start_time.replace(tzinfo=None), tzinfo=zone
            ).astimezone(ZoneInfo("UTC"))
        schedule.starts_at = new_start
        schedule.ends_at = new_start + timedelta(minutes=minutes)
        if not moved:
            # The series' own slot moves with it, so later single moves compare against it.
            schedule.original_starts_at = new_start
        changed.append(schedule)
    if change.duration_minutes is not None:
        klass.duration_minutes = change.duration_minutes
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "the new time collides with another occurrence of this series", code="series_collision"
        ) from exc
    audit.record(
        actor,
        "class.series_update",
        "class",
        klass.id,
        occurrences=len(changed),
        start_time=change.start_time.isoformat() if change.start_time else None,
        duration_minutes=change.duration_minutes,
    )
    for schedule in changed:
        signals.schedule_changed.send(schedule, change="moved")
    ids = {s.id for s in changed}
    conflicts: dict[int, Schedule] = {}
    for schedule in changed:
        for other in classes.teacher_conflicts(
            klass.teacher_id, schedule.starts_at, schedule.ends_at, exclude_schedule_ids=ids
        ):
            conflicts[other.id] = other
    return changed, list(conflicts.values())


# Private iCalendar feed


@overload
def feed_token(actor: User, *, create: Literal[True] = True) -> str: ...
@overload
def feed_token(actor: User, *, create: bool) -> str | None: ...
def feed_token(actor: User, *, create: bool = True) -> str | None:
    if actor.calendar_token is None and create:
        actor.calendar_token = secrets.token_urlsafe(32)
        audit.record(actor, "calendar.feed_create", "user", actor.id)
    return actor.calendar_token


def reset_feed_token(actor: User) -> str:
    """A new secret; every copy of the old URL stops working at once."""
    actor.calendar_token = secrets.token_urlsafe(32)
    audit.record(actor, "calendar.feed_reset", "user", actor.id)
    return actor.calendar_token


def feed_url(token: str) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/api/calendar/feed/{token}.ics"


def user_for_feed_token(token: str) -> User:
    if not token or len(token) > 64:
        raise NotFound("no such calendar")
    user = db.session.execute(db.select(User).filter_by(calendar_token=token)).scalar_one_or_none()
    if (
        user is None
        or not user.is_active
        or not secrets.compare_digest(user.calendar_token or "", token)
    ):
        raise NotFound("no such calendar")
    return user


def _feed_schedules(user: User) -> list[Schedule]:
    now = utcnow()
    stmt = (
        db.select(Schedule)
        .join(Class, Class.id == Schedule.class_id)
        .where(Schedule.ends_at > now - FEED_PAST, Schedule.starts_at < now + FEED_FUTURE)
    )
    if user.role == Role.STUDENT.value:
        stmt = stmt.join(Enrolment, Enrolment.class_id == Class.id).where(
            Enrolment.user_id == user.id
        )
    else:
        # Teachers, and admins too: their feed is what they teach, not the whole school.
        stmt = stmt.where(access.staffed_by(user.id))
    return list(db.session.execute(stmt.order_by(Schedule.starts_at).limit(FEED_LIMIT)).scalars())


def render_feed(user: User) -> bytes:
    """RFC 5545 calendar of the user's occurrences. Each occurrence is its own event with a
    stable UID, so moves and cancellations update the entry in the subscriber's calendar."""
    from icalendar import Calendar, Event  # only the feed needs it (a sixtieth of a start)

    base = current_app.config["BASE_URL"].rstrip("/")
    host = base.split("://", 1)[-1].split("/", 1)[0] or "portal"
    cal = Calendar()
    cal.add("prodid", "-//Classroom portal//Calendar feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{current_app.config.get('SCHOOL_NAME') or 'Classes'}: {user.name}")
    cal.add("x-wr-timezone", display_zone(user))
    stamp = utcnow()
    for schedule in _feed_schedules(user):
        klass = schedule.klass
        cancelled = (
            schedule.status == ScheduleStatus.CANCELLED.value
            or klass.status == ClassStatus.CANCELLED.value
        )
        event = Event()
        event.add("uid", f"schedule-{schedule.id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", schedule.starts_at)
        event.add("dtend", schedule.ends_at)
        event.add("summary", klass.title)
        description = (klass.description or "").strip()
        event.add(
            "description",
            (description + "\n\n" if description else "") + f"Teacher: {klass.teacher.name}",
        )
        event.add("url", f"{base}/classes/{klass.id}?schedule={schedule.id}")
        event.add("last-modified", schedule.updated_at or stamp)
        # Bumped whenever the occurrence changes, so clients replace their copy.
        event.add(
            "sequence",
            int((schedule.updated_at or schedule.created_at).timestamp()) % 2_000_000_000,
        )
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()
