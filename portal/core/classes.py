"""Classes, their occurrences (schedules) and enrolments."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy.exc import IntegrityError

from portal.core import access, audit, class_totals, signals
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.core.models import (
    BackendConfig,
    Class,
    ClassStatus,
    Enrolment,
    Role,
    Schedule,
    ScheduleStatus,
    User,
)
from portal.core.timezones import check_timezone
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext, ngettext

MAX_OCCURRENCES = 400
MAX_SERIES_SPAN = timedelta(days=2 * 366)
# A start this much in the past still counts as "now": forms pick whole minutes and the
# teacher's clock may be a little behind the server's.
PAST_START_GRACE = timedelta(minutes=5)


@dataclass
class ClassInput:
    title: str
    starts_at: datetime  # aware; the first occurrence
    duration_minutes: int
    timezone: str | None = None
    description: str = ""
    rrule: str | None = None
    teacher_id: int | None = None  # admins may create a class for a teacher
    backend_config_id: int | None = None
    record: bool = False
    reminder_offsets: list[int] = field(default_factory=lambda: [1440, 15])
    reminder_channels: list[str] = field(default_factory=lambda: ["email"])
    waiting_room: bool | None = None  # None takes the site's default
    room_settings: dict[str, Any] | None = None  # portal/core/room_settings.py


@dataclass
class ClassChanges:
    title: str | None = None
    description: str | None = None
    backend_config_id: int | None = None
    clear_backend: bool = False
    record: bool | None = None
    reminder_offsets: list[int] | None = None
    reminder_channels: list[str] | None = None
    waiting_room: bool | None = None
    room_settings: dict[str, Any] | None = None  # changed ones only


def _room_settings(values: dict[str, Any] | None) -> dict[str, Any]:
    from portal.core import room_settings

    return room_settings.check({k: v for k, v in (values or {}).items() if v is not None})


def expand_occurrences(starts_at: datetime, rule: str | None, tz_name: str) -> list[datetime]:
    """UTC start times of a series. Recurrence is computed in the class's own time zone so
    a weekly 09:00 class stays at 09:00 local time across daylight-saving changes."""
    if starts_at.tzinfo is None:
        raise ValidationFailed("starts_at must include a time zone offset", code="naive_datetime")
    if not rule:
        return [starts_at.astimezone(ZoneInfo("UTC"))]
    zone = ZoneInfo(tz_name)
    local_start = starts_at.astimezone(zone).replace(tzinfo=None)
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    upper = text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        raise ValidationFailed(
            "a recurring class needs an end: add COUNT=n or UNTIL=date to the rule",
            code="unbounded_rrule",
        )
    try:
        parsed = rrulestr(text, dtstart=local_start, ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            gettext("invalid recurrence rule: %(reason)s", reason=str(exc)), code="invalid_rrule"
        ) from exc
    limit = local_start + MAX_SERIES_SPAN
    occurrences: list[datetime] = []
    for occurrence in parsed:
        if occurrence > limit or len(occurrences) >= MAX_OCCURRENCES:
            raise ValidationFailed(
                gettext(
                    "a series may have at most %(max)s occurrences within two years",
                    max=MAX_OCCURRENCES,
                ),
                code="rrule_too_long",
            )
        occurrences.append(occurrence.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")))
    if not occurrences:
        raise ValidationFailed("the recurrence rule yields no occurrence", code="empty_rrule")
    return occurrences


def _refuse_past_start(starts_at: datetime) -> None:
    if starts_at < utcnow() - PAST_START_GRACE:
        raise ValidationFailed(
            gettext(
                "the start %(time)s is in the past; choose a time from now on",
                time=starts_at.isoformat(timespec="minutes"),
            ),
            code="start_in_past",
        )


def _check_reminders(offsets: list[int], channels: list[str]) -> None:
    if len(offsets) > 5 or any(not (0 <= int(o) <= 14 * 1440) for o in offsets):
        raise ValidationFailed("at most 5 reminder offsets, each between 0 and 20160 minutes")
    from portal.core.notifications.channels import require_registered

    require_registered(channels)


def _check_backend(backend_config_id: int | None) -> None:
    if backend_config_id is None:
        return
    config = db.session.get(BackendConfig, backend_config_id)
    if config is None or not config.enabled:
        raise ValidationFailed("that meeting backend is not enabled", code="backend_not_enabled")
    if config.health_ok is False:
        raise ValidationFailed(
            gettext(
                "the meeting system %(name)s failed its last connection test; choose another "
                "until an administrator fixes it",
                name=repr(config.name),
            ),
            code="backend_failing",
        )


def create_class(actor: User, data: ClassInput, *, allow_past_start: bool = False) -> Class:
    """A new class with its occurrences. Its first start may not be in the past, except for
    `allow_past_start`, which only seeding code passes (the demo school's current week, tests
    that need a class that already happened); the API and the pages never do."""
    access.require_teacher(actor)
    teacher_id = actor.id
    if data.teacher_id is not None and data.teacher_id != actor.id:
        access.require_admin(actor)
        teacher = db.session.get(User, data.teacher_id)
        if teacher is None or teacher.role not in (Role.TEACHER.value, Role.ADMIN.value):
            raise ValidationFailed("teacher_id must name a teacher", code="invalid_teacher")
        teacher_id = teacher.id
    if not data.title.strip():
        raise ValidationFailed("title must not be empty")
    if not (1 <= data.duration_minutes <= 1440):
        raise ValidationFailed("duration must be between 1 and 1440 minutes")
    from portal.core.settings import site_timezone, waiting_room_default

    tz_name = check_timezone(data.timezone or site_timezone())
    _check_reminders(data.reminder_offsets, data.reminder_channels)
    _check_backend(data.backend_config_id)
    starts = expand_occurrences(data.starts_at, data.rrule, tz_name)
    if not allow_past_start:
        _refuse_past_start(starts[0])
    klass = Class(
        title=data.title.strip(),
        description=data.description,
        teacher_id=teacher_id,
        backend_config_id=data.backend_config_id,
        timezone=tz_name,
        duration_minutes=data.duration_minutes,
        rrule=data.rrule.strip() if data.rrule else None,
        record=data.record,
        reminder_offsets=sorted({int(o) for o in data.reminder_offsets}, reverse=True),
        reminder_channels=list(dict.fromkeys(data.reminder_channels)),
        waiting_room=waiting_room_default() if data.waiting_room is None else data.waiting_room,
        room_settings=_room_settings(data.room_settings) or None,
    )
    db.session.add(klass)
    db.session.flush()
    length = timedelta(minutes=data.duration_minutes)
    schedules = [
        Schedule(class_id=klass.id, starts_at=s, ends_at=s + length, original_starts_at=s)
        for s in starts
    ]
    db.session.add_all(schedules)
    db.session.flush()
    audit.record(actor, "class.create", "class", klass.id, occurrences=len(schedules))
    for schedule in schedules:
        signals.schedule_changed.send(schedule, change="created")
    return klass


def teacher_conflicts(
    teacher_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    exclude_class: int | None = None,
    exclude_schedule_ids: Collection[int] = (),
) -> list[Schedule]:
    """The teacher's scheduled occurrences that overlap the slot (a double-booking warning)."""
    stmt = (
        db.select(Schedule)
        .join(Class, Class.id == Schedule.class_id)
        .where(
            Class.teacher_id == teacher_id,
            Class.status == ClassStatus.ACTIVE.value,
            Schedule.status == ScheduleStatus.SCHEDULED.value,
            Schedule.starts_at < ends_at,
            Schedule.ends_at > starts_at,
        )
        .order_by(Schedule.starts_at)
        .limit(50)
    )
    if exclude_class is not None:
        stmt = stmt.where(Class.id != exclude_class)
    if exclude_schedule_ids:
        stmt = stmt.where(Schedule.id.not_in(list(exclude_schedule_ids)))
    return list(db.session.execute(stmt).scalars())


def update_class(actor: User, class_id: int, changes: ClassChanges) -> Class:
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    if klass.status == ClassStatus.CANCELLED.value:
        raise Conflict("this class is cancelled", code="class_cancelled")
    if changes.title is not None:
        if not changes.title.strip():
            raise ValidationFailed("title must not be empty")
        klass.title = changes.title.strip()
    if changes.description is not None:
        klass.description = changes.description
    if changes.clear_backend:
        klass.backend_config_id = None
    elif changes.backend_config_id is not None:
        _check_backend(changes.backend_config_id)
        klass.backend_config_id = changes.backend_config_id
    if changes.record is not None:
        klass.record = changes.record
    if changes.waiting_room is not None:
        klass.waiting_room = changes.waiting_room
    if changes.room_settings:
        klass.room_settings = {
            **(klass.room_settings or {}),
            **_room_settings(changes.room_settings),
        }
    if changes.reminder_offsets is not None or changes.reminder_channels is not None:
        offsets = (
            changes.reminder_offsets
            if changes.reminder_offsets is not None
            else klass.reminder_offsets
        )
        channels = (
            changes.reminder_channels
            if changes.reminder_channels is not None
            else klass.reminder_channels
        )
        _check_reminders(offsets, channels)
        klass.reminder_offsets = sorted({int(o) for o in offsets}, reverse=True)
        klass.reminder_channels = list(dict.fromkeys(channels))
        for schedule in upcoming_schedules(klass.id):
            signals.schedule_changed.send(schedule, change="moved")
    audit.record(actor, "class.update", "class", klass.id)
    return klass


def cancel_class(actor: User, class_id: int) -> Class:
    klass = access.get_class_for(actor, class_id)
    access.require_class_owner(actor, klass)
    if klass.status == ClassStatus.CANCELLED.value:
        return klass
    klass.status = ClassStatus.CANCELLED.value
    for schedule in upcoming_schedules(klass.id):
        schedule.status = ScheduleStatus.CANCELLED.value
        signals.schedule_changed.send(schedule, change="cancelled")
    audit.record(actor, "class.cancel", "class", klass.id)
    return klass


def upcoming_schedules(class_id: int) -> list[Schedule]:
    return list(
        db.session.execute(
            db.select(Schedule)
            .where(
                Schedule.class_id == class_id,
                Schedule.ends_at > utcnow(),
                Schedule.status == ScheduleStatus.SCHEDULED.value,
            )
            .order_by(Schedule.starts_at)
        ).scalars()
    )


def list_classes(
    actor: User, *, limit: int = 50, offset: int = 0, include_cancelled: bool = False
) -> tuple[list[Class], int]:
    stmt = db.select(Class)
    if actor.role == Role.STUDENT.value:
        stmt = stmt.join(Enrolment, Enrolment.class_id == Class.id).where(
            Enrolment.user_id == actor.id
        )
    elif not actor.is_admin:
        stmt = stmt.where(access.staffed_by(actor.id))
    if not include_cancelled:
        stmt = stmt.where(Class.status == ClassStatus.ACTIVE.value)
    rows = list(
        db.session.execute(stmt.order_by(Class.id.desc()).limit(limit).offset(offset)).scalars()
    )
    if (rows or offset == 0) and len(rows) < limit:
        # A page that is not full ends the list: its total needs no count query (most
        # students and teachers have one page, and every query is a round trip per request).
        return rows, offset + len(rows)
    if actor.is_admin and not include_cancelled:
        # Every active class of the school: the kept total, not a count of 100k rows.
        return rows, class_totals.active_classes()
    total = db.session.execute(db.select(db.func.count()).select_from(stmt.subquery())).scalar_one()
    return rows, total


def get_schedule_for(actor: User, schedule_id: int) -> Schedule:
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or not access.is_member(actor, schedule.klass):
        raise NotFound("no such class occurrence")
    return schedule


def list_schedules(actor: User, class_id: int) -> list[Schedule]:
    klass = access.get_class_for(actor, class_id)
    return list(
        db.session.execute(
            db.select(Schedule).where(Schedule.class_id == klass.id).order_by(Schedule.starts_at)
        ).scalars()
    )


def schedules_in_range(
    actor: User, start: datetime, end: datetime, limit: int = 500
) -> list[Schedule]:
    """The actor's class occurrences overlapping [start, end): what a calendar view shows."""
    if end <= start:
        raise ValidationFailed("end must be after start")
    if end - start > timedelta(days=93):
        raise ValidationFailed("a calendar range may span at most 93 days", code="range_too_long")
    stmt = (
        db.select(Schedule)
        .join(Class, Class.id == Schedule.class_id)
        .where(
            Schedule.starts_at < end,
            Schedule.ends_at > start,
            Class.status == ClassStatus.ACTIVE.value,
        )
    )
    if actor.role == Role.STUDENT.value:
        stmt = stmt.join(Enrolment, Enrolment.class_id == Class.id).where(
            Enrolment.user_id == actor.id
        )
    elif not actor.is_admin:
        stmt = stmt.where(access.staffed_by(actor.id))
    return list(db.session.execute(stmt.order_by(Schedule.starts_at).limit(limit)).scalars())


def reschedule_occurrence(
    actor: User, schedule_id: int, starts_at: datetime, duration_minutes: int | None = None
) -> Schedule:
    schedule = get_schedule_for(actor, schedule_id)
    access.require_class_manager(actor, schedule.klass)
    if starts_at.tzinfo is None:
        raise ValidationFailed("starts_at must include a time zone offset", code="naive_datetime")
    minutes = duration_minutes or int((schedule.ends_at - schedule.starts_at).total_seconds() // 60)
    if not (1 <= minutes <= 1440):
        raise ValidationFailed("duration must be between 1 and 1440 minutes")
    if starts_at != schedule.starts_at:  # only changing the length of a running class is fine
        _refuse_past_start(starts_at)
    schedule.starts_at = starts_at
    schedule.ends_at = starts_at + timedelta(minutes=minutes)
    schedule.status = ScheduleStatus.SCHEDULED.value
    audit.record(actor, "schedule.move", "schedule", schedule.id, starts_at=starts_at.isoformat())
    signals.schedule_changed.send(schedule, change="moved")
    return schedule


def cancel_occurrence(actor: User, schedule_id: int) -> Schedule:
    schedule = get_schedule_for(actor, schedule_id)
    access.require_class_manager(actor, schedule.klass)
    if schedule.status != ScheduleStatus.CANCELLED.value:
        schedule.status = ScheduleStatus.CANCELLED.value
        audit.record(actor, "schedule.cancel", "schedule", schedule.id)
        signals.schedule_changed.send(schedule, change="cancelled")
    return schedule


def enrol(actor: User, class_id: int, user_ids: list[int]) -> list[Enrolment]:
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    if klass.status == ClassStatus.CANCELLED.value:
        raise Conflict("this class is cancelled", code="class_cancelled")
    if len(user_ids) > 1000:
        raise ValidationFailed("at most 1000 students per request")
    wanted = set(user_ids)
    users = (
        list(db.session.execute(db.select(User).where(User.id.in_(wanted))).scalars())
        if wanted
        else []
    )
    # One answer for ids nobody has and ids of staff: it must not tell which ids exist.
    not_students = sorted(wanted - {u.id for u in users if u.role == Role.STUDENT.value})
    if not_students:
        raise ValidationFailed(
            ngettext(
                "only students can be enrolled; no student has the id %(ids)s",
                "only students can be enrolled; no student has the ids %(ids)s",
                len(not_students),
                ids=", ".join(str(i) for i in not_students),
            ),
            code="not_a_student",
        )
    already = (
        set(
            db.session.execute(
                db.select(Enrolment.user_id).where(
                    Enrolment.class_id == klass.id, Enrolment.user_id.in_(wanted)
                )
            ).scalars()
        )
        if wanted
        else set()
    )
    newcomers = [user for user in users if user.id not in already]
    created = [Enrolment(class_id=klass.id, user_id=user.id) for user in newcomers]
    db.session.add_all(created)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "enrolment changed concurrently; try again", code="concurrent_change"
        ) from exc
    for enrolment in created:
        audit.record(actor, "enrolment.add", "class", klass.id, user_id=enrolment.user_id)
    if newcomers:
        # One signal for the whole list: the reminders are planned for all of them at once.
        signals.enrolment_changed.send(klass, users=newcomers, enrolled=True)
    return created


def unenrol(actor: User, class_id: int, user_id: int) -> None:
    klass = access.get_class_for(actor, class_id)
    if not (access.can_manage_class(actor, klass) or actor.id == user_id):
        raise NotFound("no such class")
    enrolment = db.session.execute(
        db.select(Enrolment).filter_by(class_id=klass.id, user_id=user_id)
    ).scalar_one_or_none()
    if enrolment is None:
        raise NotFound("that user is not enrolled in this class")
    user = enrolment.user
    db.session.delete(enrolment)
    audit.record(actor, "enrolment.remove", "class", klass.id, user_id=user_id)
    signals.enrolment_changed.send(klass, users=[user], enrolled=False)


def list_enrolments(actor: User, class_id: int) -> list[Enrolment]:
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    return list(
        db.session.execute(
            db.select(Enrolment)
            .where(Enrolment.class_id == klass.id)
            .options(db.joinedload(Enrolment.user))
            .order_by(Enrolment.id)
        ).scalars()
    )
