"""The core's rows as the plugin contract's dataclasses (portal.plugins.types).

Plugins never receive ORM objects: events and portal.plugins.services hand them these
frozen snapshots, so a plugin cannot change a row behind the core's back."""

from __future__ import annotations

import copy
from typing import cast

from portal.core.models import Class, Meeting, Notification, Recording, Schedule, User
from portal.plugins.types import (
    ClassInfo,
    MeetingHandle,
    MeetingRecord,
    NotificationRef,
    PortalRole,
    RecordingRef,
    ScheduleInfo,
    UserInfo,
)


def meeting_record(meeting: Meeting) -> MeetingRecord:
    schedule = meeting.schedule
    return MeetingRecord(
        id=meeting.id,
        schedule_id=meeting.schedule_id,
        class_id=schedule.class_id,
        class_title=schedule.klass.title,
        backend=meeting.backend,
        backend_meeting_id=meeting.backend_meeting_id,
        backend_config_id=meeting.backend_config_id,
        status=meeting.status,
        started_at=meeting.started_at,
        ended_at=meeting.ended_at,
        starts_at=schedule.starts_at,
        ends_at=schedule.ends_at,
        data=copy.deepcopy(dict(meeting.data or {})),
    )


def handle_of_record(record: MeetingRecord) -> MeetingHandle:
    return MeetingHandle(
        backend=record.backend,
        meeting_id=record.backend_meeting_id or "",
        data=copy.deepcopy(dict(record.data)),
    )


def class_info(klass: Class) -> ClassInfo:
    return ClassInfo(
        id=klass.id,
        title=klass.title,
        description=klass.description or "",
        teacher_id=klass.teacher_id,
        record=bool(klass.record),
    )


def schedule_info(schedule: Schedule) -> ScheduleInfo:
    return ScheduleInfo(
        id=schedule.id,
        class_id=schedule.class_id,
        starts_at=schedule.starts_at,
        ends_at=schedule.ends_at,
        status=schedule.status,
    )


def portal_role(user: User) -> PortalRole:
    """The user's role as the contract's literal type."""
    # The users.role column is a string; its check constraint admits exactly these values.
    return cast(PortalRole, user.role)


def user_info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        name=user.name,
        email=user.email,
        role=portal_role(user),
        active=bool(user.is_active),
        phone=user.phone,
    )


def recording_ref(row: Recording) -> RecordingRef:
    return RecordingRef(
        id=row.id,
        meeting_id=row.meeting_id,
        class_id=row.class_id,
        backend=row.backend,
        backend_record_id=row.backend_record_id,
        title=row.title,
        published=bool(row.published),
        storage_key=row.storage_key,
        playback_url=row.playback_url,
        visibility=row.visibility,
    )


def notification_ref(row: Notification) -> NotificationRef:
    return NotificationRef(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        channel=row.channel,
        status=row.status,
        provider_id=row.provider_id,
        error=row.error,
    )
