"""Attendance report per class occurrence, and its CSV export.

Presence and attendance are one truth: who has the class room page open. A page's live
socket joining the room while the class runs records the person as present (room_opened),
the last of their pages leaving records when they left (room_closed), and starting the class
records everyone already waiting on the page (meetings.start). "Who is here" in the panel
is live_state's presence list; the report marks the same people `here_now`.

Where the backend reports who was in the meeting (capabilities.attendance), its rows
(any source but "portal") are the truth as soon as it has confirmed one person the portal
knows, because people may join without going through the portal (dial-in, a shared
link); a portal join the backend confirms becomes a backend row. Until then, the portal's
own join records are used, together with any guests the backend reported.
Enrolled students who never appeared are listed as absent.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from portal.core import access, classes, live_state
from portal.core.backends import backend_plugin, call_backend
from portal.core.errors import PortalError
from portal.core.meetings import PORTAL_ATTENDANCE, handle_of, record_attendance, record_present
from portal.core.models import Attendance, BackendConfig, Enrolment, Meeting, MeetingState, User
from portal.core.timezones import check_timezone
from portal.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttendanceRow:
    user_id: int | None
    name: str
    email: str | None
    role: str  # teacher | student | guest
    present: bool
    first_joined_at: datetime | None
    left_at: datetime | None
    minutes: int | None
    source: str | None
    here_now: bool = False


# Where a report's rows come from: the backend's list, the portal's own, or no meeting yet.
ReportSource = Literal["backend", "portal", "none"]


@dataclass(frozen=True)
class AttendanceReport:
    schedule_id: int
    class_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    source: ReportSource
    rows: list[AttendanceRow]

    @property
    def present_count(self) -> int:
        return sum(1 for row in self.rows if row.present)

    @property
    def here_now_count(self) -> int:
        return sum(1 for row in self.rows if row.here_now)


def _running_meeting(schedule_id: int) -> Meeting | None:
    return db.session.execute(
        db.select(Meeting).filter_by(schedule_id=schedule_id, status=MeetingState.RUNNING.value)
    ).scalar_one_or_none()


def room_opened(schedule_id: int, user: User) -> None:
    """A page of the user's joined the occurrence's live room: present, if the class runs."""
    meeting = _running_meeting(schedule_id)
    if meeting is not None:
        record_attendance(meeting, user_id=user.id, name=user.name, source="portal")


def room_opened_many(schedule_id: int, users: Sequence[User]) -> None:
    """room_opened for many pages joining the room together: one statement for them all."""
    meeting = _running_meeting(schedule_id)
    if meeting is not None:
        record_present(meeting, [(user.id, user.name) for user in users])


def room_closed(schedule_id: int, user_id: int) -> None:
    """The user's last page left the room: they left now (if the class runs)."""
    meeting = _running_meeting(schedule_id)
    user = db.session.get(User, user_id)
    if meeting is not None and user is not None:
        record_attendance(meeting, user_id=user.id, name=user.name, source="portal", left=True)


def _present_now(schedule_id: int) -> list[dict]:
    """Who has the room open, or nobody when the live state (Redis) is unreachable: a start
    or a report must not fail for it (the pages' own joins still record attendance)."""
    try:
        return live_state.presence_list(schedule_id)
    except Exception as exc:
        log.warning("presence of occurrence %s unavailable: %s", schedule_id, exc)
        return []


def record_waiting(meeting: Meeting) -> None:
    """The class just started: everyone with the room page open is present from now."""
    waiting = [entry["id"] for entry in _present_now(meeting.schedule_id)]
    people = (
        db.session.execute(select(User.id, User.name).where(User.id.in_(waiting))).all()
        if waiting
        else []
    )
    record_present(meeting, [(user_id, name) for user_id, name in people])


def _sync_from_backend(meeting: Meeting) -> None:
    """Ask a running meeting's backend who is in it; failures fall back to stored rows."""
    config = (
        db.session.get(BackendConfig, meeting.backend_config_id)
        if meeting.backend_config_id
        else None
    )
    try:
        plugin = backend_plugin(meeting.backend)
        if (
            config is None
            or not plugin.capabilities.attendance
            or meeting.status != MeetingState.RUNNING.value
        ):
            return
        status = call_backend(
            config,
            "say who is in the meeting",
            lambda plugin, settings: plugin.status(settings, handle_of(meeting)),
            backend=meeting.backend,
        )
    except PortalError as exc:  # a report must render even if the backend is down
        log.info("attendance sync for meeting %s skipped: %s", meeting.id, exc)
        return
    for attendee in status.attendees:
        # A portal join the backend confirms becomes a backend row (record_attendance).
        record_attendance(meeting, user_id=attendee.user_id, name=attendee.name, source="backend")
        db.session.flush()


def report(actor: User, schedule_id: int) -> AttendanceReport:
    schedule = classes.get_schedule_for(actor, schedule_id)
    klass = schedule.klass
    access.require_class_manager(actor, klass)
    meeting = db.session.execute(
        db.select(Meeting).filter_by(schedule_id=schedule.id)
    ).scalar_one_or_none()
    records: list[Attendance] = []
    source: ReportSource = "none"
    if meeting is not None:
        _sync_from_backend(meeting)
        records = list(
            db.session.execute(
                db.select(Attendance)
                .filter_by(meeting_id=meeting.id)
                .order_by(Attendance.first_joined_at, Attendance.id)
            ).scalars()
        )
        backend_rows = [r for r in records if r.source != PORTAL_ATTENDANCE]
        # The backend's rows are the truth once it has confirmed someone the portal knows;
        # occupants it cannot name as portal users (guests, dial-in, a component) never
        # hide the portal's joins on their own.
        if any(r.user_id is not None for r in backend_rows):
            records, source = backend_rows, "backend"
        elif records:
            source = "portal"
    enrolled = {
        e.user_id: e.user
        for e in db.session.execute(
            db.select(Enrolment).filter_by(class_id=klass.id).options(db.joinedload(Enrolment.user))
        ).scalars()
    }
    user_ids = {r.user_id for r in records if r.user_id is not None}
    known = (
        {
            u.id: u
            for u in db.session.execute(db.select(User).where(User.id.in_(user_ids))).scalars()
        }
        if user_ids
        else {}
    )
    end_of_class = meeting.ended_at if meeting is not None and meeting.ended_at else None
    teachers = access.staff_roles(klass)
    merged: dict[object, AttendanceRow] = {}
    for record in records:
        user = known.get(record.user_id) if record.user_id is not None else None
        role = (
            "teacher"
            if record.user_id in teachers
            else ("student" if record.user_id in enrolled else "guest")
        )
        left = record.left_at or end_of_class
        minutes = int((left - record.first_joined_at).total_seconds() // 60) if left else None
        key = record.user_id if record.user_id is not None else f"name:{record.display_name}"
        row = AttendanceRow(
            user_id=record.user_id,
            name=user.name if user else record.display_name,
            email=user.email if user else None,
            role=role,
            present=True,
            first_joined_at=record.first_joined_at,
            left_at=record.left_at,
            minutes=minutes,
            source=record.source,
        )
        previous = merged.get(key)
        if previous is None:
            merged[key] = row
        else:  # the same person under two display names: one line, earliest join, total time
            total = (previous.minutes or 0) + (row.minutes or 0)
            merged[key] = AttendanceRow(
                **{
                    **previous.__dict__,
                    "minutes": total,
                    "first_joined_at": min(
                        (
                            t
                            for t in (previous.first_joined_at, row.first_joined_at)
                            if t is not None
                        ),
                        default=None,
                    ),
                }
            )
    for user_id, user in sorted(enrolled.items(), key=lambda item: item[1].name.lower()):
        if user_id not in merged:
            merged[user_id] = AttendanceRow(
                user_id=user_id,
                name=user.name,
                email=user.email,
                role="student",
                present=False,
                first_joined_at=None,
                left_at=None,
                minutes=None,
                source=None,
            )
    here = {u["id"] for u in _present_now(schedule.id)}
    rows = sorted(
        (AttendanceRow(**{**r.__dict__, "here_now": r.user_id in here}) for r in merged.values()),
        key=lambda r: (not r.present, r.role != "teacher", r.name.lower()),
    )
    return AttendanceReport(
        schedule_id=schedule.id,
        class_id=klass.id,
        title=klass.title,
        starts_at=schedule.starts_at,
        ends_at=schedule.ends_at,
        source=source,
        rows=rows,
    )


CSV_HEADER = [
    "name",
    "email",
    "user_id",
    "role",
    "present",
    "first_joined",
    "left",
    "minutes",
    "source",
]


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: neutralise them."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(result: AttendanceReport, tz_name: str = "UTC") -> str:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(check_timezone(tz_name))

    def when(value: datetime | None) -> str:
        return value.astimezone(zone).isoformat(timespec="seconds") if value else ""

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in result.rows:
        writer.writerow(
            [
                _csv_safe(row.name),
                _csv_safe(row.email or ""),
                row.user_id or "",
                row.role,
                "yes" if row.present else "no",
                when(row.first_joined_at),
                when(row.left_at),
                "" if row.minutes is None else row.minutes,
                row.source or "",
            ]
        )
    return out.getvalue()


def csv_download(
    actor: User, schedule_id: int, tz_name: str = "UTC"
) -> tuple[AttendanceReport, str]:
    """The attendance report as CSV for download; who downloaded it goes to the audit log."""
    from portal.core import audit
    from portal.core.privacy import access_log

    result = report(actor, schedule_id)
    body = to_csv(result, tz_name)
    audit.record(
        actor,
        access_log.ATTENDANCE_CSV,
        "schedule",
        result.schedule_id,
        class_id=result.class_id,
        rows=len(result.rows),
    )
    return result, body
