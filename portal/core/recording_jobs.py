"""Recordings being prepared: a backend that builds a lesson's recording after the class
(the bundled SFU assembles its segments in the background) reports each step here, and the
class's teachers see it on the class page until the recording is listed.

The state is one documented key of the meeting's data, ``meeting.data["recording_job"]``:
``{"state": "queued" | "assembling" | "ready" | "failed", "percent": 0-100, "message": str}``.
It belongs to the core (plugins write it only through
``portal.plugins.services.report_recording_progress``), so every backend reports the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.core import access, meeting_events
from portal.core.backends import call_backend
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.core.meetings import config_of, handle_of
from portal.core.models import Meeting, Schedule, User
from portal.core.registry import plugins
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

KEY = "recording_job"
STATES = ("queued", "assembling", "ready", "failed")
SHOWN = ("queued", "assembling", "failed")  # a ready recording is in the recordings list
MAX_MESSAGE = 500
# A recording is prepared within hours of its class; older jobs are not looked at again.
SHOWN_FOR = timedelta(days=14)
RETRY_METHOD = "retry_recording"  # optional MeetingBackend method: (settings, handle) -> None


@dataclass(frozen=True)
class RecordingJobView:
    """What the class page shows of one occurrence's recording being prepared."""

    schedule_id: int
    starts_at: datetime
    state: str
    percent: int
    message: str
    can_retry: bool


def report(meeting_id: int, state: str, percent: int = 0, message: str = "") -> None:
    """Store the state of the meeting's recording job. Does not commit (the caller's unit of
    work does). Raises ValidationFailed for an unknown state, NotFound for an unknown meeting."""
    if state not in STATES:
        raise ValidationFailed(
            gettext("recording state must be one of %(states)s", states=", ".join(STATES)),
            code="invalid_state",
        )
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("no such meeting")
    job = {
        "state": state,
        "percent": 100 if state == "ready" else max(0, min(100, int(percent))),
        "message": str(message or "")[:MAX_MESSAGE],
    }

    def change(data: dict[str, Any]) -> None:
        data[KEY] = job

    meeting_events.update_data(meeting, change)


def _retryable(meeting: Meeting) -> bool:
    """The meeting's backend is installed and has the optional retry_recording."""
    plugin = plugins().backends.get(meeting.backend)
    return getattr(plugin, RETRY_METHOD, None) is not None


def _view(meeting: Meeting, job: dict[str, Any]) -> RecordingJobView:
    return RecordingJobView(
        schedule_id=meeting.schedule_id,
        starts_at=meeting.schedule.starts_at,
        state=job["state"],
        percent=int(job.get("percent") or 0),
        message=str(job.get("message") or ""),
        can_retry=job["state"] == "failed" and _retryable(meeting),
    )


def list_for_class(actor: User, class_id: int) -> list[RecordingJobView]:
    """The class's occurrences whose recording is queued, being assembled or failed, newest
    first. Only the class's teachers, co-teachers and administrators (403 for its students,
    404 for anyone outside the class)."""
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    meetings = db.session.scalars(
        db.select(Meeting)
        .join(Schedule, Meeting.schedule_id == Schedule.id)
        .where(Schedule.class_id == klass.id, Meeting.updated_at >= utcnow() - SHOWN_FOR)
        .order_by(Schedule.starts_at.desc())
    ).all()
    return [
        _view(meeting, job)
        for meeting in meetings
        if (job := (meeting.data or {}).get(KEY)) and job.get("state") in SHOWN
    ]


def retry(actor: User, schedule_id: int) -> RecordingJobView:
    """Ask the backend to prepare a failed recording again (class teachers). 409 when the
    recording did not fail or its backend cannot retry; the backend reports the new state."""
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("no such occurrence")
    klass = access.get_class_for(actor, schedule.class_id)
    access.require_class_manager(actor, klass)
    meeting = db.session.scalar(db.select(Meeting).where(Meeting.schedule_id == schedule.id))
    job = (meeting.data or {}).get(KEY) if meeting else None
    if meeting is None or not job or job.get("state") != "failed":
        raise Conflict("only a recording that failed can be retried", code="not_failed")
    if not _retryable(meeting):
        raise Conflict(
            "this meeting system cannot prepare the recording again", code="retry_unsupported"
        )
    handle = handle_of(meeting)
    call_backend(
        config_of(meeting),
        "prepare the recording again",
        lambda plugin, settings: getattr(plugin, RETRY_METHOD)(settings, handle),
        backend=meeting.backend,
    )
    db.session.refresh(meeting)
    return _view(meeting, meeting.data.get(KEY) or job)
