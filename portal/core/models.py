"""The portal's tables (SQLAlchemy 2.0 declarative). Every change needs a migration."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.types import UTCDateTime, utcnow
from portal.extensions import Base


class AccountStatus(enum.StrEnum):
    """users.account_status: why an inactive account is not (yet) usable."""

    INVITED = "invited"
    PENDING = "pending"
    REFUSED = "refused"


class Role(enum.StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    STUDENT = "student"


# Channels a user receives only after turning them on: a text message costs the school money
# and reaches a phone number that may be shared; every other channel is on until turned off.
OPT_IN_CHANNELS = frozenset({"sms"})


class RecordingVisibility(enum.StrEnum):
    """Who may watch a recording, from the narrowest to the widest."""

    TEACHERS = "teachers"  # the class's teachers and administrators
    MEMBERS = "members"  # plus the class's enrolled students
    LINK = "link"  # plus anyone holding the recording's share link
    PUBLISHED = "published"  # members, and listed on the class's recordings list


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=Role.STUDENT.value, index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The user's own language ("fr"); None: the browser's, else the school's (portal.i18n).
    locale: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The user's own choice per notification channel, {channel: on}; a channel not named
    # here is on, except the opt-in ones (OPT_IN_CHANNELS). Read and written through
    # receives() / choose_channel(), so any registered notifier's channel works alike.
    channel_preferences: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    # Secret part of the private iCalendar feed URL; resetting it revokes old links.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Tokens issued before this instant are refused ("log out everywhere", SSO back-channel).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tokens carry the generation they were issued under; raising it ends every session at
    # once (password change, deactivation), exactly, with no clock involved (auth_tokens).
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why an inactive account is inactive, when it is not simply disabled (AccountStatus):
    # invited (no password yet), pending (a sign-up awaiting approval), refused. None: normal.
    account_status: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("role in ('admin', 'teacher', 'student')", name="role"),)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    def receives(self, channel: str) -> bool:
        """The user's own choice for `channel` (whether an address exists is not asked)."""
        chosen = (self.channel_preferences or {}).get(channel)
        return channel not in OPT_IN_CHANNELS if chosen is None else bool(chosen)

    def choose_channel(self, channel: str, on: bool) -> None:
        # A new dict: the JSON column notices assignment, not changes inside it.
        self.channel_preferences = {**(self.channel_preferences or {}), channel: bool(on)}

    @property
    def channel_choices(self) -> dict[str, bool]:
        """The choice for every registered channel (what the profile and the API show)."""
        from portal.core.notifications.channels import preferences

        return preferences(self)

    @property
    def notify_email(self) -> bool:
        return self.receives("email")

    @notify_email.setter
    def notify_email(self, on: bool) -> None:
        self.choose_channel("email", on)

    @property
    def notify_sms(self) -> bool:
        return self.receives("sms")

    @notify_sms.setter
    def notify_sms(self, on: bool) -> None:
        self.choose_channel("sms", on)


class UserIdentity(Base):
    """Link between a portal user and an external identity (SSO subject), never by email."""

    __tablename__ = "user_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("provider", "subject"),)


class RevokedToken(Base):
    """JWTs revoked by logout; rows can be purged once the token would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BackendConfig(Base):
    """An admin-configured instance of a meeting backend plugin (e.g. one BBB server)."""

    __tablename__ = "backend_configs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    backend: Mapped[str] = mapped_column(String(64), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Secret fields (per the backend's settings_schema) are stored encrypted.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    health_ok: Mapped[bool | None] = mapped_column(Boolean)
    health_message: Mapped[str | None] = mapped_column(String(500))
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ClassStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class Class(Base):
    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    backend_config_id: Mapped[int | None] = mapped_column(
        ForeignKey("backend_configs.id", ondelete="SET NULL"), index=True
    )
    timezone: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # RFC 5545 recurrence rule of the series (None for a one-off class).
    rrule: Mapped[str | None] = mapped_column(String(500))
    record: Mapped[bool] = mapped_column(Boolean, default=False)
    # Minutes before start at which reminders go out, and on which channels.
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON, default=lambda: [1440, 15])
    reminder_channels: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["email"])
    # active_history: the kept count of active classes (core/class_totals.py) needs the old
    # status when it changes, also when it was not loaded before.
    status: Mapped[str] = mapped_column(
        String(16), default=ClassStatus.ACTIVE.value, active_history=True
    )
    # Students wait in the lobby until admitted. New classes take the site's default; it is
    # stored, not looked up, so a join reads no setting (the join path counts its queries).
    waiting_room: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Per-class room settings (portal/core/room_settings.py); None: the site defaults.
    room_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Legal hold: the class's recordings are kept whatever the retention policy says
    # (portal/core/privacy/retention.py skips them) until an administrator lifts it.
    recordings_legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    teacher: Mapped[User] = relationship(lazy="joined")
    backend_config: Mapped[BackendConfig | None] = relationship()

    @property
    def room(self) -> dict[str, Any]:
        """The room settings in force: this class's, else the site's defaults."""
        from portal.core import room_settings

        return room_settings.as_dict(self)

    __table_args__ = (
        CheckConstraint("duration_minutes > 0 and duration_minutes <= 1440", name="duration"),
        CheckConstraint("status in ('active', 'cancelled')", name="status"),
    )


class ClassTotal(Base):
    """Derived data: how many classes are active, kept in the transaction that creates or
    cancels a class (portal/core/class_totals.py), so the admin's unfiltered class list reads
    one row instead of counting every class. Not in backups: an import recounts it."""

    __tablename__ = "class_totals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    active: Mapped[int] = mapped_column(Integer)


class StaffRole(enum.StrEnum):
    """A teacher's part in a class besides its owner (classes.teacher_id)."""

    CO_TEACHER = "co_teacher"
    ASSISTANT = "assistant"


class ClassStaff(Base):
    """Co-teachers and teaching assistants of a class; what each may do is in core/access."""

    __tablename__ = "class_staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    __table_args__ = (
        UniqueConstraint("class_id", "user_id"),
        CheckConstraint("role in ('co_teacher', 'assistant')", name="role"),
    )


class Enrolment(Base):
    __tablename__ = "class_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("class_id", "user_id"),)


class ScheduleStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Schedule(Base):
    """One occurrence of a class."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The slot the recurrence rule generated (RECURRENCE-ID); stays put when one occurrence moves.
    original_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=ScheduleStatus.SCHEDULED.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    klass: Mapped[Class] = relationship(lazy="joined")

    @property
    def title(self) -> str:
        return self.klass.title

    __table_args__ = (
        Index("ix_schedules_class_id_starts_at", "class_id", "starts_at"),
        Index("ix_schedules_starts_at", "starts_at"),
        UniqueConstraint("class_id", "original_starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("status in ('scheduled', 'cancelled')", name="status"),
    )


class Slide(Base):
    __tablename__ = "slides"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    # sha256 of the PDF: rendered page images are cached under it (None on decks uploaded
    # before it was kept; their hash is computed when a page is first rendered).
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeetingState(enum.StrEnum):
    """The `meetings.status` column (not the contract's MeetingStatus, a backend's live report)."""

    STARTING = "starting"
    RUNNING = "running"
    ENDED = "ended"


class Meeting(Base):
    """A class occurrence started on a backend. Backend-specific state lives in `data`."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), unique=True
    )
    backend_config_id: Mapped[int | None] = mapped_column(
        ForeignKey("backend_configs.id", ondelete="SET NULL"), index=True
    )
    backend: Mapped[str] = mapped_column(String(64))
    backend_meeting_id: Mapped[str | None] = mapped_column(String(255), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=MeetingState.STARTING.value)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    schedule: Mapped[Schedule] = relationship(lazy="joined")
    backend_config: Mapped[BackendConfig | None] = relationship()

    __table_args__ = (CheckConstraint("status in ('starting', 'running', 'ended')", name="status"),)


class LobbyEntry(Base):
    """Someone waiting in an occurrence's waiting room, and the teacher's answer."""

    __tablename__ = "lobby_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # waiting -> admitted | refused (a refused person asking again waits again)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    message: Mapped[str] = mapped_column(String(500), default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    __table_args__ = (
        UniqueConstraint("schedule_id", "user_id"),
        CheckConstraint("status in ('waiting', 'admitted', 'refused')", name="status"),
    )


class InviteLink(Base):
    """A link a teacher shares with guests for one class (or one occurrence of it).

    Only hashes are stored: the token is shown once, the access code is never readable."""

    __tablename__ = "invite_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    # NULL: every occurrence of the class.
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(255))
    viewer_only: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    klass: Mapped[Class] = relationship(lazy="joined")


class Guest(Base):
    """Someone who came in through an invite link: never a user, never a user's cookies.

    The guest's own session token (only its hash here) is good for the link's class (or
    occurrence) until the link expires or is revoked. `status` is the guest's place in the
    waiting room: guests always wait until a teacher admits them."""

    __tablename__ = "guests"

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_link_id: Mapped[int] = mapped_column(
        ForeignKey("invite_links.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The occurrence the guest waits for (set when they knock).
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="new")
    message: Mapped[str] = mapped_column(String(500), default="")
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    link: Mapped[InviteLink] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint("status in ('new', 'waiting', 'admitted', 'refused')", name="status"),
    )


class Attendance(Base):
    """Who was in a meeting: from portal joins, or from the backend's own data."""

    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    display_name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="portal")
    first_joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("meeting_id", "user_id", "display_name"),)


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )
    backend: Mapped[str] = mapped_column(String(64))
    backend_config_id: Mapped[int | None] = mapped_column(
        ForeignKey("backend_configs.id", ondelete="SET NULL")
    )
    backend_record_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    playback_url: Mapped[str | None] = mapped_column(String(1000))
    format: Mapped[str | None] = mapped_column(String(32))
    storage_key: Mapped[str | None] = mapped_column(String(500))
    preview_images: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Who may watch it: a RecordingVisibility value (portal/core/recordings.py enforces it).
    visibility: Mapped[str] = mapped_column(String(16), default="published")
    # sha256 hex of the current share link's token; None until a link is made. Revoking
    # replaces it, so every older link stops working.
    share_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("backend", "backend_config_id", "backend_record_id"),)

    @property
    def published(self) -> bool:
        """Listed on the class's recordings list for its members."""
        return self.visibility == RecordingVisibility.PUBLISHED.value


class Notification(Base):
    """One message to one recipient on one channel; unique so it is sent at most once."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    # reminder / class_started / class_cancelled / class_moved / recording_available
    kind: Mapped[str] = mapped_column(String(32))
    # Disambiguates several notifications of one kind: the reminder offset in minutes,
    # a recording id, or a change counter.
    key: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending -> claimed -> sending -> sent | failed ; pending | claimed -> cancelled
    # (see portal/core/notifications/__init__.py: "sending" is never resent)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("kind", "schedule_id", "user_id", "channel", "key"),
        Index("ix_notifications_status_due_at", "status", "due_at"),
    )


class Poll(Base):
    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(String(500))
    multiple_choice: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # draft -> open -> closed
    status: Mapped[str] = mapped_column(String(16), default="draft")
    results_published: Mapped[bool] = mapped_column(Boolean, default=False)
    # Grows by one with every change the teacher makes (open, close, publish, hide results;
    # polls._changed), not with votes: pages receive a poll from acks, pushes and refreshes
    # in any order and keep the newest. Votes only take a shared lock on the poll.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    options: Mapped[list[PollOption]] = relationship(
        order_by="PollOption.position", cascade="all, delete-orphan"
    )


class PollOption(Base):
    __tablename__ = "poll_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("poll_id", "position"),)


class PollVote(Base):
    __tablename__ = "poll_votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("poll_id", "user_id", "option_id"),)


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A guest's message (user_id NULL): guests are no users (portal/core/invites.py).
    guest_id: Mapped[int | None] = mapped_column(ForeignKey("guests.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_chat_messages_schedule_id_id", "schedule_id", "id"),)


class FloorSeat(Base):
    """One student's place on the floor of a class occurrence: a raised hand (queued by the
    time it went up) and what the teacher granted: microphone, camera, screen."""

    __tablename__ = "floor_seats"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    hand_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mic: Mapped[bool] = mapped_column(Boolean, default=False)
    camera: Mapped[bool] = mapped_column(Boolean, default=False)
    screen: Mapped[bool] = mapped_column(Boolean, default=False)
    # The teacher muted this student's microphone: the media server forwards no audio of theirs.
    mic_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("schedule_id", "user_id"),)


class FloorState(Base):
    """The revision of a class occurrence's floor: raised by every change of one of its
    seats (floor._changed), so that a page, which reads the floor after pushes and its own
    actions, can drop an answer older than the one it shows. No row: revision 0."""

    __tablename__ = "floor_states"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LivePresentation(Base):
    """What a class occurrence's room shows now: a page of one of the class's slide decks, or
    a page of the blank board (slide_id None), and whether a student holding the floor may
    turn pages and draw (co-presenting, allowed by the teacher). One row per occurrence."""

    __tablename__ = "live_presentations"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), unique=True
    )
    slide_id: Mapped[int | None] = mapped_column(ForeignKey("slides.id", ondelete="SET NULL"))
    page: Mapped[int] = mapped_column(Integer, default=1)
    # How many blank-board pages this occurrence has (they are kept with the lesson).
    board_pages: Mapped[int] = mapped_column(Integer, default=1)
    co_presenting: Mapped[bool] = mapped_column(Boolean, default=False)
    # Grows by one with every change of this row (presentations._changed): pages receive the
    # state from acks, pushes and REST refreshes in any order and keep only the newest. The
    # row is kept for the whole occurrence so that the count never starts again.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class BoardStroke(Base):
    """One whiteboard stroke (vector data, points normalised to 0..1 of the page) drawn in an
    occurrence on a slide page (slide_id, page) or a blank-board page (slide_id None)."""

    __tablename__ = "board_strokes"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    slide_id: Mapped[int | None] = mapped_column(ForeignKey("slides.id", ondelete="CASCADE"))
    page: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_board_strokes_surface", "schedule_id", "slide_id", "page"),)


class ClassMute(Base):
    """A user muted in one class's chat by its teacher."""

    __tablename__ = "class_mutes"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    muted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("class_id", "user_id"),)


class Media(Base):
    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE")
    )
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "schedule_id"),
        UniqueConstraint("user_id", "recording_id"),
        CheckConstraint("rating between 1 and 5", name="rating"),
        CheckConstraint("(schedule_id is null) <> (recording_id is null)", name="one_target"),
    )


class BlockedUser(Base):
    __tablename__ = "blocked_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(8))  # site | class
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500))
    blocked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(
            "(scope = 'site' and class_id is null) or (scope = 'class' and class_id is not null)",
            name="scope",
        ),
    )


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SiteSetting(Base):
    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ExportJob(Base):
    """A user's data export being prepared in the background (portal/core/privacy/export.py):
    queued -> running -> ready | failed; the zip lives in storage under `storage_key`."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    storage_key: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("status in ('queued', 'running', 'ready', 'failed')", name="status"),
    )
