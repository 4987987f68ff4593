"""Periodic reconciliation with BBB, so nothing is lost when a callback never arrives:
meeting status (ended / expired on the server), attendance while running, and recordings."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from portal.plugins import AttendeeInfo, MeetingRecord, NotFound, services

from .backend import GONE_KEYS, NAME, client_for, recording_info
from .client import BBBError, BBBUnavailable, MeetingInfo

log = logging.getLogger(__name__)

# Recordings can take hours to process; look for them this long after a meeting ended.
RECORDING_LOOKBACK = timedelta(days=3)
MEETING_IDS_PER_CALL = 25


def _settings(meeting: MeetingRecord) -> dict[str, Any] | None:
    try:
        return services.meeting_settings(meeting.id)
    except NotFound:
        return None


def sync_attendance(meeting: MeetingRecord, info: MeetingInfo) -> None:
    """Everyone BBB lists is present; the core closes the rows of people no longer listed.
    A userID the portal did not issue (dial-in, another integration) counts as a guest."""
    attendees = [
        AttendeeInfo(name=a.full_name, user_id=int(a.user_id) if a.user_id.isdigit() else None)
        for a in info.attendees
    ]
    with services.unit_of_work():
        services.sync_presence(meeting.id, attendees, source="bbb")


def sync_meeting(meeting: MeetingRecord, unreachable: set[int] | None = None) -> str:
    """Reconcile one running meeting; returns what happened (for logs and tests).

    `unreachable` collects configs whose server did not answer, so one dead server costs
    one timeout per run instead of one per meeting.
    """
    settings = _settings(meeting)
    if settings is None or not meeting.backend_meeting_id:
        return "skipped"
    if unreachable is not None and meeting.backend_config_id in unreachable:
        return "unreachable"
    try:
        info = client_for(settings).get_meeting_info(meeting.backend_meeting_id)
    except BBBError as exc:
        if exc.message_key in GONE_KEYS:
            services.mark_meeting_ended(meeting.id)
            return "ended"
        log.warning(
            "bbb sync: getMeetingInfo %s failed: %s", meeting.backend_meeting_id, exc.user_message
        )
        return "error"
    except BBBUnavailable as exc:
        log.warning(
            "bbb sync: server unreachable for %s: %s", meeting.backend_meeting_id, exc.user_message
        )
        if unreachable is not None and meeting.backend_config_id is not None:
            unreachable.add(meeting.backend_config_id)
        return "unreachable"
    ours = meeting.data.get("createTime")
    if info.ended or (ours and info.create_time and info.create_time != ours):
        services.mark_meeting_ended(meeting.id)
        return "ended"
    sync_attendance(meeting, info)
    return "running"


def sync_recordings(meeting_rows: list[MeetingRecord]) -> int:
    """Fetch recordings of these meetings, batched per backend config; returns rows created."""
    by_config: dict[int, list[MeetingRecord]] = defaultdict(list)
    for meeting in meeting_rows:
        if meeting.backend_config_id is not None and meeting.backend_meeting_id:
            by_config[meeting.backend_config_id].append(meeting)
    created = 0
    for group in by_config.values():
        settings = _settings(group[0])
        if settings is None:
            continue
        by_id = {m.backend_meeting_id: m for m in group if m.backend_meeting_id}
        ids = sorted(by_id)
        for start in range(0, len(ids), MEETING_IDS_PER_CALL):
            chunk = ids[start : start + MEETING_IDS_PER_CALL]
            try:
                # One client, so one time budget, per call: the job is no user action.
                recordings = client_for(settings).get_recordings(meeting_ids=chunk)
            except (BBBError, BBBUnavailable) as exc:
                log.warning("bbb sync: getRecordings failed: %s", exc.user_message)
                break
            for rec in recordings:
                owner = by_id.get(rec.meeting_id)
                if owner is None:
                    continue
                _, was_created = services.register_recording(owner.id, recording_info(rec))
                created += int(was_created)
    return created


def sync_all() -> dict[str, int]:
    """The periodic job: status + attendance of running meetings, then recent recordings."""
    outcome: dict[str, int] = defaultdict(int)
    unreachable: set[int] = set()
    for meeting in services.running_meetings(NAME):
        outcome[sync_meeting(meeting, unreachable)] += 1
    recent = services.recent_meetings(NAME, ended_within_days=RECORDING_LOOKBACK.days)
    outcome["recordings_created"] = sync_recordings(
        [m for m in recent if m.backend_config_id not in unreachable]
    )
    return dict(outcome)
