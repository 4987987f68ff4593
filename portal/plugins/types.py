"""Data that crosses the plugin boundary. Plugins receive and return only these types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; the core shows missing abilities instead of failing late."""

    recording: bool = False
    slides: bool = False
    breakout: bool = False
    # The backend can hold a class's waiting room in a lobby of its own (BBB's guest lobby,
    # Jitsi's lobby) where its admin set that up; a meeting it created that way says so with
    # MeetingHandle.holds_waiting_room, and the portal's lobby then lets people through.
    lobby: bool = False
    end: bool = False
    attendance: bool = False
    embed: bool = False
    # The backend shows slides and a whiteboard of its own (BigBlueButton): the room page
    # then shows no portal slide viewer.
    presentation: bool = False
    # The per-class room settings (RoomSettings field names) this backend honours; the
    # class form shows only these. The portal's own chat rule applies whatever the backend.
    room_settings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, bool]:
        return {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if isinstance(getattr(self, name), bool)
        }


@dataclass(frozen=True)
class RoomSettings:
    """How a class's room behaves, as the teacher chose it (labels in
    portal/core/room_settings.py). Each backend maps the ones it lists in
    `Capabilities.room_settings` onto its own options and ignores the rest."""

    mute_on_entry: bool = False  # "Mute everyone when they enter"
    cameras_teachers_only: bool = False  # "Only teachers may turn on their camera"
    # "Who may share their screen": teachers only, or students too (when given the floor)
    screen_share: Literal["teachers", "everyone"] = "everyone"
    chat: bool = True  # "Allow chat"
    private_chat: bool = True  # "Allow private chat"
    record: bool = False  # "Record this class" (the same as MeetingSpec.record)


@dataclass(frozen=True)
class SlideRef:
    """A slide deck the backend should preload.

    `url` is a time-limited download link on the portal; `read()` returns the bytes for
    backends that must inline the document.
    """

    filename: str
    size_bytes: int
    url: str | None
    read: Any  # Callable[[], bytes]


PortalRole = Literal["admin", "teacher", "student"]


@dataclass(frozen=True)
class Participant:
    """Who joins: `role` is their part in this meeting, `portal_role` their account's role,
    so a backend needs no user row to tell a teacher from a student."""

    user_id: int
    name: str
    email: str
    role: Literal["moderator", "viewer"]
    avatar_url: str | None = None
    portal_role: PortalRole = "student"
    # A guest from an invite link (docs/content.md "Guests"): no portal account, `user_id` is
    # minus the guest's id, `role` is always "viewer". Backends let them in as guests (BBB
    # guest=true, Jitsi without moderator, the SFU subscribe only).
    guest: bool = False
    # Watch and listen only (an invite link made "viewer only"): never on the floor, even if
    # the teacher would grant it; backends that can, join them subscribe-only.
    viewer_only: bool = False


@dataclass(frozen=True)
class RoomGuest:
    """A guest from an invite link, admitted to one class occurrence: who a guest's room
    credential (services.guest_room_credential) names. `participant_id` is the id a backend
    saw in Participant.user_id (minus the guest's id)."""

    guest_id: int
    schedule_id: int
    class_id: int
    name: str  # "Name (guest)", as everyone sees it
    viewer_only: bool = False

    @property
    def participant_id(self) -> int:
        return -self.guest_id


@dataclass(frozen=True)
class MeetingSpec:
    """Everything a backend needs to create the meeting of one class occurrence."""

    meeting_key: str  # stable, unique per class occurrence and installation
    class_id: int
    schedule_id: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    record: bool
    teacher: Participant
    slides: list[SlideRef] = field(default_factory=list)
    # Absolute URLs on the portal the backend may call back (end, recording ready, events).
    callback_urls: Mapping[str, str] = field(default_factory=dict)
    portal_url: str = ""
    # Enrolled students plus the teacher: load balancers place the meeting by its expected size.
    expected_participants: int = 0
    site_name: str = ""  # the school's name, as the admin set it
    room: RoomSettings = field(default_factory=lambda: RoomSettings())
    # The class's waiting room is on: students and guests wait until a teacher admits them.
    # A backend with a lobby of its own may hold them there (MeetingHandle.holds_waiting_room);
    # otherwise the portal's lobby holds them before they get a join target.
    waiting_room: bool = False


# The key of MeetingHandle.data a backend sets (True) when this meeting's waiting room is
# held by the backend's own lobby.
HOLDS_WAITING_ROOM = "holds_waiting_room"


@dataclass
class MeetingHandle:
    """The backend's reference to a running meeting; `data` is stored in meetings.data."""

    backend: str
    meeting_id: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def holds_waiting_room(self) -> bool:
        """The backend's own lobby holds this meeting's waiting people: the portal lets
        students and guests through to it instead of holding them twice."""
        return bool(self.data.get(HOLDS_WAITING_ROOM))


@dataclass(frozen=True)
class JoinTarget:
    """Where a participant goes: a redirect, or data for embedding in the class page."""

    kind: Literal["redirect", "embed"]
    url: str
    embed: Mapping[str, Any] = field(default_factory=dict)
    new_tab: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "embed": dict(self.embed),
            "new_tab": self.new_tab,
        }


@dataclass(frozen=True)
class FloorGrant:
    """What the teacher let one student send in a class occurrence (the floor)."""

    mic: bool = False
    camera: bool = False
    screen: bool = False
    mic_muted: bool = False  # the teacher muted the microphone: forward none of its audio

    @property
    def any(self) -> bool:
        return self.mic or self.camera or self.screen

    def as_dict(self) -> dict[str, bool]:
        return {
            "mic": self.mic,
            "camera": self.camera,
            "screen": self.screen,
            "mic_muted": self.mic_muted,
        }


@dataclass(frozen=True)
class AttendeeInfo:
    name: str
    user_id: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class MeetingStatus:
    running: bool
    participant_count: int = 0
    attendees: list[AttendeeInfo] = field(default_factory=list)
    ended: bool = False


@dataclass(frozen=True)
class RecordingInfo:
    record_id: str
    title: str
    recorded_at: datetime | None = None
    duration_seconds: int | None = None
    playback_url: str | None = None
    format: str | None = None
    published: bool = True
    preview_images: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    message: str
    version: str | None = None
    latency_ms: float | None = None


class BackendError(Exception):
    """A backend could not do what was asked. `user_message` is shown to people."""

    def __init__(self, user_message: str, *, code: str = "backend_error", retryable: bool = False):
        super().__init__(user_message)
        self.user_message = user_message
        self.code = code
        self.retryable = retryable


class BackendUnavailable(BackendError):
    """The backend did not answer (down, timeout, garbage): the core answers 503."""

    def __init__(self, user_message: str, *, code: str = "backend_unavailable"):
        super().__init__(user_message, code=code, retryable=True)


@runtime_checkable
class MeetingBackend(Protocol):
    """A conferencing system. `settings` is the admin's config for this backend instance."""

    name: str
    label: str
    capabilities: Capabilities
    settings_schema: Mapping[str, Any]  # JSON Schema; properties with "writeOnly": true are secrets

    def create_meeting(self, settings: Mapping[str, Any], spec: MeetingSpec) -> MeetingHandle: ...

    def join(
        self, settings: Mapping[str, Any], handle: MeetingHandle, participant: Participant
    ) -> JoinTarget: ...

    def end_meeting(self, settings: Mapping[str, Any], handle: MeetingHandle) -> None: ...

    def status(self, settings: Mapping[str, Any], handle: MeetingHandle) -> MeetingStatus: ...

    def list_recordings(
        self, settings: Mapping[str, Any], handle: MeetingHandle
    ) -> list[RecordingInfo]: ...

    def publish_recording(
        self, settings: Mapping[str, Any], record_id: str, published: bool
    ) -> None:
        """Make a recording visible (or not) on the backend's own playback server."""
        ...

    def delete_recording(self, settings: Mapping[str, Any], record_id: str) -> None: ...

    def check_health(self, settings: Mapping[str, Any]) -> HealthResult: ...


@runtime_checkable
class BatchJoiningBackend(Protocol):
    """`join_many(settings, handle, participants)`: the join targets of several people
    joining one meeting together (a class's students on its pushed start), one per
    participant, in order; what does not vary per person (URLs, a floor query) is done once.
    Raising fails all of them alike, as `join` would one. Without it the core calls `join`
    once per participant."""

    def join_many(
        self,
        settings: Mapping[str, Any],
        handle: MeetingHandle,
        participants: Sequence[Participant],
    ) -> list[JoinTarget]: ...


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class NotificationMessage:
    channel: str
    recipient: str  # email address or E.164 phone number
    subject: str
    text: str
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    notification_id: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryResult:
    status: Literal["sent", "queued", "failed"]
    provider_id: str | None = None
    retryable: bool = False
    error: str | None = None


@runtime_checkable
class Notifier(Protocol):
    channel: str
    name: str

    def send(self, message: NotificationMessage) -> DeliveryResult: ...


# Optional members of a notifier: a notifier has them or not, and the core asks with
# isinstance (each is a runtime-checkable protocol), so each is declared once, here.


@runtime_checkable
class LabelledNotifier(Protocol):
    """`label`: how forms and the unsubscribe page name the channel ("push notification")."""

    label: str


@runtime_checkable
class RateLimitedNotifier(Protocol):
    """`rate_per_second`: the provider's own limit when NOTIFY_RATE_LIMITS names none."""

    rate_per_second: float | None


@runtime_checkable
class BatchNotifier(Protocol):
    """`send_many(messages)`: hand several messages to the provider in one go (e.g. one SMTP
    connection for all of them); returns one DeliveryResult per message, in order. A message
    it did not get to must come back retryable, never "sent". Without it the core calls
    `send` once per message."""

    def send_many(self, messages: Sequence[NotificationMessage]) -> list[DeliveryResult]: ...


@runtime_checkable
class CheckedNotifier(Protocol):
    """`is_configured()`: False while the provider lacks credentials; another notifier of the
    channel (or the outbox) is chosen instead."""

    def is_configured(self) -> bool: ...


@dataclass(frozen=True)
class ExternalIdentity:
    """A person as an auth provider vouches for them; the core provisions the user."""

    provider: str
    subject: str
    email: str
    name: str
    role: Literal["admin", "teacher", "student"]
    phone: str | None = None


@runtime_checkable
class AuthProvider(Protocol):
    """A way to sign in other than a portal password (SSO)."""

    name: str
    label: str

    def login_url(self, next_path: str | None) -> str | None:
        """Where "Sign in with <label>" sends the browser; None hides the button."""
        ...

    def logout_url(self) -> str | None:
        """Where the browser goes after portal logout (single logout), or None."""
        ...


@dataclass(frozen=True)
class PeriodicJob:
    """A function run every `every_seconds` by Celery beat or the in-process scheduler."""

    name: str
    every_seconds: int
    func: Any  # Callable[[], object]; runs inside an app context


@dataclass(frozen=True)
class AdminPage:
    """A plugin's page in the administration area, linked from its menu and home page.
    `label` and `description` may be lazy strings of the plugin's catalogue (translated when
    the page renders); `endpoint` is the Flask endpoint of the page (no URL arguments)."""

    label: Any
    endpoint: str
    description: Any = ""


@dataclass(frozen=True)
class PageLink:
    """A link a plugin adds to a core page: `label` may be a lazy string of the plugin's
    catalogue, `url` a path on the portal."""

    label: Any
    url: str


# What the core hands plugins: snapshots of its rows (never ORM objects), from
# portal.plugins.services and in the event hooks.


@dataclass(frozen=True)
class MeetingRecord:
    """One class occurrence's meeting as the core stores it.

    `status` is "starting", "running" or "ended"; `data` is a copy of the backend's state
    (change it with services.update_meeting_data, never in place)."""

    id: int
    schedule_id: int
    class_id: int
    class_title: str
    backend: str
    backend_meeting_id: str | None
    backend_config_id: int | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    starts_at: datetime
    ends_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def ended(self) -> bool:
        return self.status == "ended"


@dataclass(frozen=True)
class ClassInfo:
    id: int
    title: str
    description: str
    teacher_id: int
    record: bool


@dataclass(frozen=True)
class ScheduleInfo:
    """One occurrence of a class."""

    id: int
    class_id: int
    starts_at: datetime
    ends_at: datetime
    status: str


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    email: str
    role: PortalRole
    active: bool
    phone: str | None = None


@dataclass(frozen=True)
class UserDataSection:
    """What a plugin holds about one user, for the user's data export (export_user_data):
    `name` is the section's file in the zip ("<plugin>.<what>", e.g. "sso_insp.tokens"),
    `rows` JSON-serialisable dicts, only the user's own data."""

    name: str
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class ErasureItem:
    """What a plugin erased (or, on a dry run, would erase) of one user (erase_user_data):
    `name` as in UserDataSection, `count` how many rows or remote objects. Counts only:
    the audit log keeps these, never the erased data."""

    name: str
    count: int


@dataclass(frozen=True)
class RecordingRef:
    """A recording the portal stores (its row), as handed to `recording_ready`."""

    id: int
    meeting_id: int | None
    class_id: int
    backend: str
    backend_record_id: str
    title: str
    published: bool  # listed for the class's members (visibility "published")
    storage_key: str | None = None
    playback_url: str | None = None
    visibility: str = "published"  # teachers / members / link / published


@dataclass(frozen=True)
class NotificationRef:
    """A notification row, as handed to `notification_delivered`."""

    id: int
    user_id: int
    kind: str
    channel: str
    status: str
    provider_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Visit:
    """One person's presence as the backend timed it: first join, last leave (None: still in)."""

    user_id: int | None
    name: str
    joined_at: datetime
    left_at: datetime | None


class NotificationStatus(StrEnum):
    """A notification row's `status`; notifiers report provider outcomes with SENT / FAILED."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
