"""Request/response models of the calendar, slides, media, recordings, feedback and
attendance endpoints (kept apart from schemas.py to keep merges easy)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from portal.api.schemas import Model, Out, RowId, ScheduleOut, TimeIn, out_of
from portal.core.recordings import RecordingView


class DownloadOut(Out):
    url: str = Field(description="time-limited link (local signed URL or S3 presigned URL)")
    expires_at: datetime
    filename: str


class SlideOut(Out):
    id: int
    class_id: int
    filename: str
    size_bytes: int
    page_count: int
    position: int
    created_at: datetime


class SlideOrderIn(Model):
    slide_ids: list[RowId] = Field(min_length=1, max_length=200)


class MediaOut(Out):
    id: int
    class_id: int
    schedule_id: int | None
    uploaded_by: int | None
    filename: str
    content_type: str
    size_bytes: int
    created_at: datetime


class MediaQuery(Model):
    schedule_id: RowId | None = None


# The core's RecordingView is the one recording view model; the API serves exactly its fields.
RecordingOut = out_of(RecordingView, "RecordingOut", __name__)


# What the recordings listings answer. RecordingOut is built at import time, so a type checker
# sees a variable, not a class; this one place says so.
RecordingOutList: Any = list[RecordingOut]  # type: ignore[valid-type]


class RecordingJobOut(Out):
    """An occurrence whose recording is being prepared after the class (teachers only)."""

    schedule_id: int
    starts_at: datetime
    state: Literal["queued", "assembling", "ready", "failed"]
    percent: int = Field(description="0-100 while assembling")
    message: str = Field(description="why it failed (state failed)")
    can_retry: bool = Field(description="a failed one the backend can prepare again")


class PublishIn(Model):
    published: bool


Visibility = Literal["teachers", "members", "link", "published"]


class VisibilityIn(Model):
    visibility: Visibility = Field(
        description="teachers: the class's teachers and admins; members: plus its students; "
        "link: plus anyone with the share link; published: listed for the class's members"
    )


class ShareLinkOut(Out):
    recording_id: int
    token: str = Field(description="shown once: only its hash is stored")
    url: str = Field(description="the page anyone with this link may watch the recording on")


class VisibilityOut(Out):
    recording: RecordingOut  # type: ignore[valid-type]
    share_link: ShareLinkOut | None = Field(
        description="the recording's first share link, when this change made one"
    )


class FeedbackIn(Model):
    rating: int = Field(ge=1, le=5, strict=True, description="1 to 5 stars (a JSON integer)")
    comment: str = Field(default="", max_length=5000)


class FeedbackEditIn(Model):
    rating: int | None = Field(default=None, ge=1, le=5, strict=True)
    comment: str | None = Field(default=None, max_length=5000)


class FeedbackOut(Out):
    id: int
    user_id: int
    class_id: int
    schedule_id: int | None
    recording_id: int | None
    rating: int
    comment: str
    created_at: datetime
    updated_at: datetime


class FeedbackItemOut(Out):
    id: int
    user_id: int
    user_name: str
    rating: int
    comment: str
    schedule_id: int | None
    recording_id: int | None
    updated_at: datetime


class FeedbackSummaryOut(Out):
    count: int
    average: float | None
    distribution: dict[str, int] = Field(description="number of ratings per star value '1'..'5'")
    items: list[FeedbackItemOut]


class CalendarEventsQuery(Model):
    start: str = Field(
        max_length=40, description="ISO 8601 date or date-time (FullCalendar's start)"
    )
    end: str = Field(max_length=40, description="ISO 8601 date or date-time (FullCalendar's end)")
    timeZone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone for naive bounds and the output; default: yours, else the school's",
    )


class CalendarEventOut(Out):
    id: str
    groupId: str
    title: str
    start: str
    end: str
    allDay: bool
    url: str
    classNames: list[str]
    editable: bool
    extendedProps: dict[str, Any]


class ScheduleMovedOut(ScheduleOut):
    conflicts: list[ScheduleOut] = Field(
        default_factory=list, description="the teacher's occurrences this one now overlaps"
    )


class SeriesUpdateIn(Model):
    start_time: TimeIn | None = Field(
        default=None, description="new local start time in the class's zone, e.g. 09:30"
    )
    duration_minutes: int | None = Field(default=None, ge=1, le=1440)
    include_moved: bool = False


class SeriesUpdatedOut(Out):
    changed: list[ScheduleOut]
    conflicts: list[ScheduleOut]


class FeedOut(Out):
    url: str = Field(description="secret iCalendar URL; anyone with it can read your class times")


class AttendanceRowOut(Out):
    user_id: int | None
    name: str
    email: str | None
    role: Literal["teacher", "student", "guest"]
    present: bool
    first_joined_at: datetime | None
    left_at: datetime | None
    minutes: int | None
    source: str | None
    here_now: bool = Field(
        description="has the class room page open right now (the panel's presence)"
    )


class AttendanceReportOut(Out):
    schedule_id: int
    class_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    source: Literal["backend", "portal", "none"]
    present_count: int
    here_now_count: int
    rows: list[AttendanceRowOut]


class CsvQuery(Model):
    timezone: str | None = Field(default=None, max_length=64)
