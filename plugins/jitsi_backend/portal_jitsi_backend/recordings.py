"""Recordings: Jibri uploads and JaaS downloads both end as stored files + recordings rows."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from portal.plugins import MeetingRecord, RecordingInfo, RecordingRef, services

log = logging.getLogger(__name__)

# JaaS keeps a recording, and its pre-authenticated link, for 24 hours.
JAAS_LINK_LIFETIME = 24 * 3600
DOWNLOAD_TIMEOUT = (10, 120)  # connect, read (between chunks)
CHUNK = 1024 * 1024


class DownloadTooLarge(Exception):
    """A recording larger than max_recording_mb; logged (not an API answer)."""


def looks_like_mp4(data: bytes) -> bool:
    # An ISO base media file starts with a box whose type is "ftyp".
    return len(data) >= 12 and data[4:8] == b"ftyp"


def recording_title(meeting: MeetingRecord, recorded_at: datetime | None) -> str:
    title = meeting.class_title
    when = recorded_at or meeting.started_at
    return f"{title} ({when:%Y-%m-%d %H:%M} UTC)" if when else title


def known_record_ids(meeting: MeetingRecord) -> set[str]:
    return {item.get("record_id") for item in meeting.data.get("recordings") or []}


def store_file(
    meeting: MeetingRecord,
    data: bytes,
    *,
    record_id: str,
    recorded_at: datetime | None,
    duration_seconds: int | None,
) -> tuple[RecordingRef, bool]:
    """Save the mp4 in the portal's storage and create (or find) the recordings row."""
    key = services.new_file_key(f"recordings/{meeting.class_id}", "mp4")
    services.store_file(key, data, "video/mp4")
    info = RecordingInfo(
        record_id=record_id,
        title=recording_title(meeting, recorded_at),
        recorded_at=recorded_at,
        duration_seconds=duration_seconds,
        format="video",
    )
    # Callers skip record ids the meeting already knows (and JaaS deliveries are claimed
    # once), so a second file for the same recording is not normally stored; if it ever
    # is, store_recording keeps one row pointing at the newest file.
    row, created = services.register_recording(meeting.id, info, storage_key=key)

    def remember(data_: dict[str, Any]) -> None:
        items = [i for i in data_.get("recordings") or [] if i.get("record_id") != record_id]
        items.append(
            {
                "record_id": record_id,
                "title": info.title,
                "recorded_at": int(recorded_at.timestamp()) if recorded_at else None,
                "duration_seconds": duration_seconds,
                "recording_id": row.id,
            }
        )
        data_["recordings"] = items

    services.update_meeting_data(meeting.id, remember)
    return row, created


# JaaS RECORDING_UPLOADED --------------------------------------------------------------


def queue_download(
    meeting: MeetingRecord,
    *,
    record_id: str,
    url: str,
    recorded_at: int | None,
    duration_seconds: int | None,
) -> None:
    item = {
        "record_id": record_id,
        "url": url,
        "recorded_at": recorded_at,
        "duration_seconds": duration_seconds,
        "received_at": int(time.time()),
        "attempts": 0,
        "error": None,
    }

    def add(data: dict[str, Any]) -> None:
        pending = [
            p for p in data.get("pending_downloads") or [] if p.get("record_id") != record_id
        ]
        pending.append(item)
        data["pending_downloads"] = pending

    services.update_meeting_data(meeting.id, add)


def _download(url: str, max_bytes: int) -> bytes:
    with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
        response.raise_for_status()
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise DownloadTooLarge(f"{declared} bytes")
        chunks, total = [], 0
        for chunk in response.iter_content(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise DownloadTooLarge(f"more than {max_bytes} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def process_downloads(meeting: MeetingRecord, settings: Mapping[str, Any]) -> int:
    """Try every pending download of the meeting once; returns how many were stored.

    A failed download stays pending (with its error) until the link has expired."""
    stored = 0
    max_bytes = int(settings.get("max_recording_mb") or 2048) * 1024 * 1024
    meeting = services.get_meeting(meeting.id)  # the caller's snapshot may predate its own queueing
    for item in list(meeting.data.get("pending_downloads") or []):
        # One unit of work per download: its bookkeeping commits before the next slow download
        # starts, so no write waits (on SQLite: no write lock is held) across a download.
        with services.unit_of_work():
            record_id = item["record_id"]
            outcome: str | None = None
            if record_id in known_record_ids(services.get_meeting(meeting.id)):
                outcome = "done"
            elif time.time() > item.get("received_at", 0) + JAAS_LINK_LIFETIME:
                log.error(
                    "JaaS recording %s of meeting %s was never downloaded; its link has expired",
                    record_id,
                    meeting.id,
                )
                outcome = "expired"
            else:
                try:
                    data = _download(item["url"], max_bytes)
                    if not looks_like_mp4(data):
                        raise ValueError("the downloaded file is not an mp4 video")
                    recorded = item.get("recorded_at")
                    store_file(
                        meeting,
                        data,
                        record_id=record_id,
                        recorded_at=datetime.fromtimestamp(recorded, UTC) if recorded else None,
                        duration_seconds=item.get("duration_seconds"),
                    )
                    stored += 1
                    outcome = "done"
                except DownloadTooLarge as exc:
                    log.error(
                        "JaaS recording %s is larger than max_recording_mb (%s); not stored",
                        record_id,
                        exc,
                    )
                    outcome = "too_large"
                except (requests.RequestException, ValueError) as exc:
                    log.warning("download of JaaS recording %s failed: %s", record_id, exc)
                    error = f"{exc.__class__.__name__}: {exc}"[:300]

                    def note(data_: dict[str, Any], record_id=record_id, error=error) -> None:
                        for p in data_.get("pending_downloads") or []:
                            if p.get("record_id") == record_id:
                                p["attempts"] = int(p.get("attempts") or 0) + 1
                                p["error"] = error

                    services.update_meeting_data(meeting.id, note)
            if outcome is not None:

                def drop(data_: dict[str, Any], record_id=record_id) -> None:
                    data_["pending_downloads"] = [
                        p
                        for p in data_.get("pending_downloads") or []
                        if p.get("record_id") != record_id
                    ]

                services.update_meeting_data(meeting.id, drop)
    return stored


def retry_pending_downloads() -> None:
    """Periodic job: downloads that failed when the webhook arrived are retried."""
    for meeting in services.meetings_with_pending("jitsi", "pending_downloads"):
        try:
            process_downloads(meeting, services.meeting_settings(meeting.id))
        except Exception:  # one meeting's trouble must not stop the others
            log.exception("retrying JaaS downloads of meeting %s failed", meeting.id)
