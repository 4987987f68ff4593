"""Changing the recurrence of a series "from this occurrence on" (like a calendar's "this and
following events"): the series is split at the chosen occurrence. The occurrences before it
keep the old rule (which now ends before the split); the chosen one and those after it
follow the new rule, as a new class with the same settings and students. (When nothing
comes before the chosen occurrence, the class itself takes the new rule.)

An occurrence of the old series whose day is still in the new series carries over (same
row, so its reminders, calendar entry and anything attached stay): at the new slot's time,
or, when a teacher had moved it by hand, where it was moved to. A moved occurrence whose day
is gone is dropped, and the result says so; so is a plain one, silently (it was the rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from portal.core import access, audit, signals
from portal.core.classes import (
    _refuse_past_start,
    expand_occurrences,
    get_schedule_for,
)
from portal.core.errors import Conflict, ValidationFailed
from portal.core.models import (
    BlockedUser,
    Class,
    ClassStatus,
    Enrolment,
    Meeting,
    Notification,
    Schedule,
    ScheduleStatus,
    User,
)
from portal.core.types import utcnow
from portal.extensions import db

_END_PART = re.compile(r"^(COUNT|UNTIL)=", re.IGNORECASE)


@dataclass
class SeriesSplit:
    """What a "this and following" change did."""

    klass: Class  # the class that now holds the chosen occurrence and those after it
    split: bool  # True: a new class was made; False: the class itself took the new rule
    occurrences: list[Schedule] = field(default_factory=list)
    kept_moved: list[Schedule] = field(default_factory=list)  # moved by hand, still moved
    dropped_moved: list[datetime] = field(default_factory=list)  # moved by hand, day gone


def _rule_ending_before(rule: str, split_local: datetime) -> str:
    """The old rule with its end replaced by UNTIL just before the split (local time)."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts = [part for part in text.split(";") if part and not _END_PART.match(part)]
    until = (split_local - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S")
    return ";".join([*parts, f"UNTIL={until}"])


def _slot(schedule: Schedule) -> datetime:
    return schedule.original_starts_at or schedule.starts_at


def change_following(
    actor: User,
    schedule_id: int,
    *,
    rrule: str,
    starts_at: datetime | None = None,
    duration_minutes: int | None = None,
) -> SeriesSplit:
    """Give the chosen occurrence and every later one of its series a new recurrence rule
    (first occurrence `starts_at`, default the chosen occurrence's slot). Does not commit."""
    chosen = get_schedule_for(actor, schedule_id)
    klass = chosen.klass
    access.require_class_manager(actor, klass)
    if klass.status == ClassStatus.CANCELLED.value:
        raise Conflict("this class is cancelled", code="class_cancelled")
    if not klass.rrule:
        raise ValidationFailed(
            "this class does not repeat; move its occurrence instead", code="not_a_series"
        )
    now = utcnow()
    if chosen.starts_at <= now:
        raise ValidationFailed(
            "this occurrence has already started; choose a later one", code="occurrence_started"
        )
    minutes = duration_minutes or klass.duration_minutes
    if not 1 <= minutes <= 1440:
        raise ValidationFailed("duration must be between 1 and 1440 minutes")
    first = starts_at or _slot(chosen)
    if first.tzinfo is None:
        raise ValidationFailed("starts_at must include a time zone offset", code="naive_datetime")
    first = first.astimezone(ZoneInfo("UTC"))
    _refuse_past_start(first)
    new_starts = expand_occurrences(first, rrule, klass.timezone)
    zone = ZoneInfo(klass.timezone)
    split_at = min(_slot(chosen), chosen.starts_at, first)
    rows = list(
        db.session.execute(
            sa.select(Schedule).where(Schedule.class_id == klass.id).order_by(Schedule.starts_at)
        ).scalars()
    )
    following = [s for s in rows if _slot(s) >= _slot(chosen) or s.id == chosen.id]
    earlier = [s for s in rows if s not in following]
    if earlier and max(_slot(s) for s in earlier) >= split_at:
        raise ValidationFailed(
            "the new series must start after the occurrences that keep the old rule",
            code="series_overlap",
        )
    started = db.session.execute(
        sa.select(Meeting.id).where(Meeting.schedule_id.in_([s.id for s in following])).limit(1)
    ).first()
    if started is not None:
        raise Conflict(
            "one of these occurrences has already been held; choose a later one",
            code="occurrence_started",
        )

    target = klass if not earlier else _copy_class(klass)
    if earlier:
        klass.rrule = _rule_ending_before(
            klass.rrule, split_at.astimezone(zone).replace(tzinfo=None)
        )
    target.rrule = rrule.strip()
    target.duration_minutes = minutes
    db.session.flush()

    moved_by_hand = {
        s.id: s.original_starts_at is not None and s.starts_at != s.original_starts_at
        for s in following
    }
    by_day: dict[date, Schedule] = {}
    for schedule in following:
        by_day.setdefault(_slot(schedule).astimezone(zone).date(), schedule)
    result = SeriesSplit(klass=target, split=bool(earlier))
    changes: list[tuple[Schedule, str]] = []
    reused: list[tuple[Schedule, datetime]] = []
    for slot in new_starts:
        day = slot.astimezone(zone).date()
        if day in by_day:
            reused.append((by_day.pop(day), slot))
            continue
        created = Schedule(
            class_id=target.id,
            starts_at=slot,
            ends_at=slot + timedelta(minutes=minutes),
            original_starts_at=slot,
        )
        created.klass = target
        db.session.add(created)
        changes.append((created, "created"))
        result.occurrences.append(created)
    for schedule in by_day.values():
        # Its day is not in the new series: gone. Say so when a teacher had moved it by hand.
        if moved_by_hand[schedule.id] and schedule.status == ScheduleStatus.SCHEDULED.value:
            result.dropped_moved.append(schedule.starts_at)
        db.session.delete(schedule)
    if by_day:
        # Its reminders go with it (explicitly: SQLite does not enforce ON DELETE CASCADE).
        db.session.execute(
            sa.delete(Notification).where(
                Notification.schedule_id.in_([s.id for s in by_day.values()])
            )
        )
    # Carried-over rows take their new slot in two steps (park, then place): their new slots
    # may be each other's old ones, and (class_id, original_starts_at) is unique.
    parking = datetime(1900, 1, 1, tzinfo=ZoneInfo("UTC"))
    for offset, (schedule, _) in enumerate(reused):
        schedule.original_starts_at = parking + timedelta(minutes=offset)
    db.session.flush()
    for schedule, slot in reused:
        schedule.class_id = target.id
        schedule.klass = target
        schedule.original_starts_at = slot
        if moved_by_hand[schedule.id] and schedule.status == ScheduleStatus.SCHEDULED.value:
            result.kept_moved.append(schedule)  # still on its day: stays where it was moved
        else:
            schedule.starts_at = slot
            schedule.ends_at = slot + timedelta(minutes=minutes)
        changes.append((schedule, "moved"))
        result.occurrences.append(schedule)
    if earlier:
        _carry_over_people(klass, target)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "the new series collides with itself; check the rule", code="series_collision"
        ) from exc
    result.occurrences.sort(key=lambda s: s.starts_at)
    audit.record(
        actor,
        "class.series_split",
        "class",
        klass.id,
        new_class_id=target.id,
        from_schedule_id=chosen.id,
        rrule=target.rrule,
        occurrences=len(result.occurrences),
        dropped_moved=len(result.dropped_moved),
    )
    for schedule, change in changes:
        signals.schedule_changed.send(schedule, change=change)
    return result


def _copy_class(klass: Class) -> Class:
    """The class that continues the series: same teacher, settings and title."""
    copy = Class(
        title=klass.title,
        description=klass.description,
        teacher_id=klass.teacher_id,
        backend_config_id=klass.backend_config_id,
        timezone=klass.timezone,
        duration_minutes=klass.duration_minutes,
        rrule=klass.rrule,
        record=klass.record,
        reminder_offsets=list(klass.reminder_offsets or []),
        reminder_channels=list(klass.reminder_channels or []),
        room_settings=dict(klass.room_settings) if klass.room_settings else None,
    )
    db.session.add(copy)
    db.session.flush()
    return copy


def _carry_over_people(old: Class, new: Class) -> None:
    """The students (and the class-scoped blocks) of the old series go on in the new one.
    No enrolment notices: nobody joined anything new; the occurrences' own signals plan the
    reminders."""
    for user_id in db.session.execute(
        sa.select(Enrolment.user_id).where(Enrolment.class_id == old.id)
    ).scalars():
        db.session.add(Enrolment(class_id=new.id, user_id=user_id))
    for block in db.session.execute(
        sa.select(BlockedUser).where(
            BlockedUser.class_id == old.id, BlockedUser.lifted_at.is_(None)
        )
    ).scalars():
        db.session.add(
            BlockedUser(
                user_id=block.user_id,
                scope=block.scope,
                class_id=new.id,
                reason=block.reason,
                blocked_by=block.blocked_by,
                expires_at=block.expires_at,
            )
        )
