"""Request and response models of the JSON API (also the source of /api/openapi.json)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
)

from portal.api.converters import MAX_ID
from portal.i18n import gettext, lazy_gettext

# Ids in bodies and queries fit the database's 32-bit integer columns (else a driver error).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
# A notification channel name; which ones exist is the core's to say (registered notifiers).
Channel = Annotated[str, Field(min_length=1, max_length=40)]

_DATE_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_TIME_TEXT = re.compile(r"\d{2}:\d{2}")


def _text_only(pattern: re.Pattern[str], already: type, refusal: Any):
    """Pydantic also reads numbers and numeric strings as seconds (Unix time, or since
    midnight), so `"starts_at": 0` meant 1 January 1970: accept only ISO 8601 text."""

    def check(value: Any) -> Any:
        if isinstance(value, already) or (isinstance(value, str) and pattern.match(value)):
            return value
        raise ValueError(str(refusal))  # translated now, in the request's language

    return BeforeValidator(check)


# Years a date-time may name: the portal adds offsets, series spans and reminder lead times
# to them, which must stay inside Python's years 1..9999 (0001-01-01T00:00+01:00 is year 0 in UTC).
DATE_TIME_YEARS = (1900, 2999)


def _within_years(value: datetime) -> datetime:
    first, last = DATE_TIME_YEARS
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = None
    if year is None or not first <= year <= last:
        raise ValueError(
            gettext("must lie between the years %(first)s and %(last)s", first=first, last=last)
        )
    return value


# Every date-time the API reads: ISO 8601 text with a UTC offset, e.g. 2026-09-01T09:00:00+02:00.
DateTimeIn = Annotated[
    AwareDatetime,
    _text_only(
        _DATE_TIME_TEXT,
        datetime,
        lazy_gettext(
            "must be an ISO 8601 date-time string with an offset, e.g. 2026-09-01T09:00:00+02:00"
        ),
    ),
    AfterValidator(_within_years),
]
# A time of day the API reads: ISO 8601 text, e.g. 09:30.
TimeIn = Annotated[
    time, _text_only(_TIME_TEXT, time, lazy_gettext("must be an ISO 8601 time string, e.g. 09:30"))
]


# defer_build: a model's validator is built when the model first validates, not when its
# module is imported; a process (a Celery worker, a served portal, a test) uses few of the
# API's models, and building them all cost ~0.15 s CPU at every app start.
class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True, defer_build=True)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, defer_build=True)


def out_of(view: type, name: str, module: str) -> type[Out]:
    """The response model serving exactly a core view dataclass's fields: the core's view
    stays the one declaration (the API never re-declares it field by field)."""
    return create_model(  # type: ignore[call-overload]
        name,
        __base__=Out,
        __module__=module,
        **{field: (hint, ...) for field, hint in get_type_hints(view).items()},
    )


class LoginIn(Model):
    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(Out):
    id: int
    email: str
    name: str
    role: Literal["admin", "teacher", "student"]
    phone: str | None = None
    timezone: str | None = None
    locale: str | None = None
    is_active: bool
    # invited / pending (a sign-up awaiting approval) / refused; null for ordinary accounts
    account_status: str | None = None
    notify_email: bool
    notify_sms: bool
    # Every registered notification channel (a plugin's too): is it on for this user?
    channels: dict[str, bool] = Field(validation_alias="channel_choices")


class TokensOut(Out):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user: UserOut


class AccessTokenOut(Out):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class UserCreateIn(Model):
    email: str = Field(max_length=255)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "teacher", "student"] = "student"
    password: str | None = Field(default=None, max_length=1024)
    phone: str | None = Field(default=None, max_length=32)
    timezone: str | None = Field(default=None, max_length=64)


class UserUpdateIn(Model):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(
        default=None, max_length=16, description='language ("fr"); "" goes back to automatic'
    )
    notify_email: bool | None = None
    notify_sms: bool | None = None
    channels: dict[str, bool] | None = Field(
        default=None, description="turn notification channels on or off, e.g. {'push': false}"
    )
    role: Literal["admin", "teacher", "student"] | None = None
    is_active: bool | None = None


class PasswordChangeIn(Model):
    current_password: str = Field(default="", max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class Page(Out):
    total: int
    limit: int
    offset: int


class DirectoryEntryOut(Out):
    """A student as a teacher's search shows them: full contact data only for students of
    the teacher's own classes, else the name and a masked email."""

    id: int
    name: str
    role: Literal["admin", "teacher", "student"]
    email: str = Field(
        description="the address, or a masked one (j***@school.example) when email_masked"
    )
    email_masked: bool
    phone: str | None = None


class UserPage(Page):
    items: list[UserOut | DirectoryEntryOut] = Field(
        description="UserOut for administrators; DirectoryEntryOut for teachers"
    )


class PageQuery(Model):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class UserQuery(PageQuery):
    role: Literal["admin", "teacher", "student"] | None = None
    q: str | None = Field(default=None, max_length=100)


class TeacherOut(Out):
    id: int
    name: str


class RoomSettingsIn(Model):
    """Per-class room settings; an omitted one keeps its value (the site default at first)."""

    mute_on_entry: bool | None = None
    cameras_teachers_only: bool | None = None
    screen_share: Literal["teachers", "everyone"] | None = None
    chat: bool | None = None
    private_chat: bool | None = None


class RoomSettingsOut(Out):
    mute_on_entry: bool
    cameras_teachers_only: bool
    screen_share: Literal["teachers", "everyone"]
    chat: bool
    private_chat: bool
    record: bool


class ClassIn(Model):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    starts_at: DateTimeIn
    duration_minutes: int = Field(ge=1, le=1440)
    timezone: str | None = Field(default=None, max_length=64)
    rrule: str | None = Field(
        default=None,
        max_length=500,
        description="RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10",
    )
    teacher_id: RowId | None = None
    backend_config_id: RowId | None = None
    record: bool = False
    reminder_offsets: list[int] = Field(default_factory=lambda: [1440, 15], max_length=5)
    reminder_channels: list[Channel] = Field(default_factory=lambda: ["email"], max_length=10)
    waiting_room: bool | None = Field(
        default=None, description="students wait until admitted; omitted: the site's default"
    )
    room_settings: RoomSettingsIn | None = None


class ClassUpdateIn(Model):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    backend_config_id: RowId | None = None
    clear_backend: bool = False
    record: bool | None = None
    reminder_offsets: list[int] | None = Field(default=None, max_length=5)
    reminder_channels: list[Channel] | None = Field(default=None, max_length=10)
    waiting_room: bool | None = Field(
        default=None, description="students wait until a teacher admits them"
    )
    room_settings: RoomSettingsIn | None = None


class ClassOut(Out):
    id: int
    title: str
    description: str
    teacher: TeacherOut
    backend_config_id: int | None
    timezone: str
    duration_minutes: int
    rrule: str | None
    record: bool
    reminder_offsets: list[int]
    reminder_channels: list[str]
    room: RoomSettingsOut = Field(
        description="the room settings in force (site defaults filled in)"
    )
    status: Literal["active", "cancelled"]
    waiting_room: bool = Field(description="students wait until a teacher admits them")
    created_at: datetime


class ClassPage(Page):
    items: list[ClassOut]


class ScheduleOut(Out):
    id: int
    class_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    status: Literal["scheduled", "cancelled"]


class ClassCreatedOut(ClassOut):
    schedules: list[ScheduleOut]
    conflicts: list[ScheduleOut] = Field(
        default_factory=list, description="the teacher's overlapping occurrences"
    )


class CalendarQuery(Model):
    start: DateTimeIn
    end: DateTimeIn


class ScheduleMoveIn(Model):
    starts_at: DateTimeIn
    duration_minutes: int | None = Field(default=None, ge=1, le=1440)


class EnrolIn(Model):
    user_ids: list[RowId] = Field(min_length=1, max_length=1000)


class StaffIn(Model):
    email: str = Field(min_length=3, max_length=255)
    role: Literal["co_teacher", "assistant"]


class StaffOut(Out):
    user: TeacherOut
    role: Literal["co_teacher", "assistant"]
    created_at: datetime


class EnrolmentOut(Out):
    user: UserOut
    created_at: datetime


class JoinTargetOut(Out):
    kind: Literal["redirect", "embed"]
    url: str
    embed: dict[str, Any]
    new_tab: bool


class StartOut(Out):
    meeting_id: int
    state: str
    join: JoinTargetOut


class MeetingStateOut(Out):
    schedule_id: int
    state: Literal["not_started", "starting", "running", "ended"]
    backend: dict[str, Any] | None
    started_at: datetime | None
    ended_at: datetime | None


class BackendChoiceOut(Out):
    id: int
    name: str
    backend: str
    label: str
    is_default: bool
    capabilities: dict[str, bool]


class BackendConfigIn(Model):
    name: str = Field(min_length=1, max_length=100)
    backend: str = Field(min_length=1, max_length=64)
    settings: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    is_default: bool = False


class BackendConfigUpdateIn(Model):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    settings: dict[str, Any] | None = None
    enabled: bool | None = None
    is_default: bool | None = None


class BackendConfigOut(Out):
    id: int
    name: str
    backend: str
    enabled: bool
    is_default: bool
    settings: dict[str, Any]
    health_ok: bool | None
    health_message: str | None
    health_checked_at: datetime | None


class BackendTypeOut(Out):
    name: str
    label: str
    capabilities: dict[str, bool]
    settings_schema: dict[str, Any]


class HealthOut(Out):
    ok: bool
    message: str
    version: str | None
    latency_ms: float | None


class BlockIn(Model):
    user_id: RowId
    scope: Literal["site", "class"]
    class_id: RowId | None = None
    reason: str = Field(min_length=1, max_length=500)
    expires_at: DateTimeIn | None = None


class BlockOut(Out):
    id: int
    user_id: int
    scope: Literal["site", "class"]
    class_id: int | None
    reason: str
    blocked_by: int | None
    created_at: datetime
    expires_at: datetime | None
    lifted_at: datetime | None


class PluginOut(Out):
    name: str
    version: str | None
    hooks: list[str]
