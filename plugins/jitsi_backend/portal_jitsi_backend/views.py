"""Callbacks from Jitsi: prosody event_sync, JaaS webhooks, Jibri finalize uploads.

Every endpoint authenticates against the secrets of the portal's Jitsi backend
configurations, then only acts on meetings that belong to a configuration the caller
proved it knows: a leaked token of one deployment cannot touch another's classes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, jsonify, request

from portal.plugins import MeetingRecord, NotAuthenticated, NotFound, ValidationFailed, services

from . import recordings
from .backend import BACKEND

log = logging.getLogger(__name__)

# static/: the room script the class page mounts (jitsi-room.js, see JitsiBackend.join).


class _JsonErrorsBlueprint(Blueprint):
    # prosody, JaaS and curl send `Accept: */*`: errors are JSON here, never an HTML page.
    json_errors = True


blueprint = _JsonErrorsBlueprint(
    "jitsi_backend", __name__, url_prefix="/plugins/jitsi", static_folder="static"
)

PROSODY_EVENTS = {"room/created", "room/destroyed", "occupant/joined", "occupant/left"}
# How long before the scheduled end an emptied room counts as the end of the class.
END_GRACE_SECONDS = 600


# Authentication ------------------------------------------------------------------------


def _bearer() -> str:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else value.strip()


def _configs_with_secret(field: str, presented: str) -> dict[int, dict[str, Any]]:
    """Configurations whose secret `field` equals the presented one (constant time)."""
    found: dict[int, dict[str, Any]] = {}
    for config_id, settings in services.backend_settings(BACKEND.name):
        secret = settings.get(field)
        if (
            isinstance(secret, str)
            and secret
            and presented
            and hmac.compare_digest(secret.encode(), presented.encode())
        ):
            found[config_id] = settings
    return found


def verify_jaas_signature(
    header: str, body: bytes, secret: str, tolerance: int, now: float | None = None
) -> bool:
    """8x8's scheme: `X-Jaas-Signature: t=<unix>,v1=<base64 HMAC-SHA256 of "<t>.<raw body>">`.

    Schemes other than v1 are ignored (no downgrade); an old timestamp is a replay."""
    timestamp, signatures = None, []
    for part in header.split(","):
        prefix, _, value = part.strip().partition("=")
        if prefix == "t":
            timestamp = value
        elif prefix == "v1":
            signatures.append(value)
    if not timestamp or not timestamp.isdigit() or not signatures:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = base64.b64encode(
        hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    ).decode()
    return any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in signatures)


def _meeting_for(
    room_id: str, configs: Mapping[int, Mapping[str, Any]]
) -> tuple[MeetingRecord, Mapping[str, Any]] | None:
    """The portal meeting of a room and its config's settings, if it belongs to one of the
    authenticated configs."""
    meeting = services.find_meeting(BACKEND.name, room_id.strip().lower())
    if meeting is None or meeting.backend_config_id is None:
        return None
    settings = configs.get(meeting.backend_config_id)
    return None if settings is None else (meeting, settings)


def _json_body() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ValidationFailed("the request body must be a JSON object", code="invalid_json")
    return payload


def _ignored(reason: str):
    # 200, not 404: prosody and JaaS would otherwise retry events of rooms that are
    # simply not portal classes (test rooms, other apps on the same deployment).
    return jsonify({"status": "ignored", "reason": reason})


# Shared state changes --------------------------------------------------------------------


def _user_id(raw: Any) -> int | None:
    text = str(raw or "")
    return int(text) if re.fullmatch(r"[0-9]{1,12}", text) else None


def _event_time(value: Any) -> datetime | None:
    """When Jitsi says something happened (Unix seconds, or JaaS milliseconds). A time
    after its receipt is a clock error and counts as now; no time, the receipt time."""
    seconds = _epoch_seconds(value)
    if seconds is None:
        return None
    return min(datetime.fromtimestamp(seconds, UTC), services.now())


def _occupant(
    meeting: MeetingRecord, who: Mapping[str, Any], *, left: bool, source: str, at: Any = None
) -> None:
    name = str(who.get("name") or "").strip()
    user_id = _user_id(who.get("id"))
    if not name and user_id is None:
        return  # a component (Jibri, Jigasi) without a token: not a person of the class
    with services.unit_of_work():
        services.record_attendance(
            meeting.id, user_id, name or "Guest", source, left=left, at=_event_time(at)
        )


def _set_occupants(meeting: MeetingRecord, count: Any) -> None:
    if isinstance(count, int) and count >= 0:
        services.update_meeting_data(meeting.id, lambda d: d.update(occupants=count))


def _room_created(meeting: MeetingRecord, at: Any) -> None:
    def change(data: dict[str, Any]) -> None:
        data.update(
            room_active=True,
            room_created_at=at if isinstance(at, int | float) else int(time.time()),
            room_destroyed_at=None,
            occupants=data.get("occupants") or 0,
        )

    services.update_meeting_data(meeting.id, change)


def _room_destroyed(meeting: MeetingRecord, settings: Mapping[str, Any], at: Any) -> bool:
    """The room emptied. Whether that ends the class depends on `end_on_room_destroyed`:
    by default only near or after the scheduled end, so a teacher who reloads the page in
    an empty room does not end the class for everyone."""

    def change(data: dict[str, Any]) -> None:
        data.update(
            room_active=False,
            occupants=0,
            room_destroyed_at=at if isinstance(at, int | float) else int(time.time()),
        )

    services.update_meeting_data(meeting.id, change)
    policy = settings.get("end_on_room_destroyed", "after_scheduled_end")
    if policy == "never":
        return False
    if policy == "after_scheduled_end":
        remaining = (meeting.ends_at - services.now()).total_seconds()
        if remaining > END_GRACE_SECONDS:
            return False
    return services.mark_meeting_ended(meeting.id)


# prosody event_sync ----------------------------------------------------------------------


@blueprint.post("/events/<kind>/<action>")
def prosody_event(kind: str, action: str):
    """Receiver of jitsi-contrib mod_event_sync_component (api_prefix = <portal>/plugins/jitsi)."""
    event = f"{kind}/{action}"
    if event not in PROSODY_EVENTS:
        raise NotFound("no such event")
    configs = _configs_with_secret("events_token", _bearer())
    if not configs:
        raise NotAuthenticated("a valid events token is required", code="invalid_events_token")
    payload = _json_body()
    room = str(payload.get("room_name") or "")
    room = (
        room.split("]", 1)[1] if room.startswith("[") and "]" in room else room
    )  # multi-tenant node
    found = _meeting_for(room, configs)
    if found is None:
        return _ignored("not a portal class room")
    meeting, settings = found
    breakout = bool(payload.get("is_breakout"))
    ended = False
    if event == "room/created" and not breakout:
        _room_created(meeting, _epoch_seconds(payload.get("created_at")))
    elif event == "room/destroyed" and not breakout:
        # Each occupant session's own leave time, oldest first; those still open are
        # closed by the end of the class, never by the time this event arrived.
        sessions = [
            o
            for o in payload.get("all_occupants") or []
            if isinstance(o, dict) and o.get("left_at")
        ]
        for session in sorted(sessions, key=lambda o: _epoch_seconds(o.get("left_at")) or 0):
            _occupant(meeting, session, left=True, source="jitsi", at=session.get("left_at"))
        ended = _room_destroyed(meeting, settings, _epoch_seconds(payload.get("destroyed_at")))
    elif event in ("occupant/joined", "occupant/left"):
        occupant = payload.get("occupant")
        if not isinstance(occupant, dict):
            raise ValidationFailed("occupant must be an object")
        # In breakout rooms people are still in class: a join there counts as present.
        left = event == "occupant/left"
        _occupant(
            meeting,
            occupant,
            left=left,
            source="jitsi",
            at=occupant.get("left_at") if left else occupant.get("joined_at"),
        )
        if not breakout:
            _set_occupants(meeting, payload.get("active_occupants_count"))
    return jsonify({"status": "ok", "meeting_id": meeting.id, "ended": ended})


# JaaS webhooks ---------------------------------------------------------------------------


@blueprint.post("/jaas/webhook")
def jaas_webhook():
    body = request.get_data(cache=True)
    header = request.headers.get("X-Jaas-Signature", "")
    configs = {
        config_id: settings
        for config_id, settings in services.backend_settings(BACKEND.name)
        if settings.get("mode") == "jaas"
        and settings.get("jaas_webhook_secret")
        and verify_jaas_signature(
            header,
            body,
            settings["jaas_webhook_secret"],
            int(settings.get("webhook_tolerance_seconds") or 300),
        )
    }
    if not configs:
        raise NotAuthenticated(
            "the X-Jaas-Signature header is missing or wrong", code="invalid_signature"
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValidationFailed("the request body must be JSON", code="invalid_json") from exc
    if not isinstance(payload, dict):
        raise ValidationFailed("the request body must be a JSON object", code="invalid_json")
    key = payload.get("idempotencyKey")
    if not isinstance(key, str) or not key:
        raise ValidationFailed("idempotencyKey is required")
    found = _meeting_for(str(payload.get("fqn") or ""), configs)
    if found is None:
        return _ignored("not a portal class room")
    meeting, settings = found
    if not services.claim_delivery(meeting.id, key):
        return jsonify({"status": "duplicate", "meeting_id": meeting.id})
    try:
        result = _handle_jaas_event(meeting, settings, payload)
    except Exception:
        # Let JaaS's retry of this delivery be processed instead of discarded.
        services.release_delivery(meeting.id, key)
        raise
    return jsonify({"status": "ok", "meeting_id": meeting.id, **result})


def _epoch_seconds(value: Any) -> int | None:
    # JaaS timestamps are milliseconds. Not a plausible time (a string, Infinity, year
    # 5000): unknown, rather than an error.
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10**14:
        return int(value / 1000) if value > 10**11 else int(value)
    return None


def _jaas_record_id(data: Mapping[str, Any], link: str) -> str:
    """The recording's own id: data.recordingSessionId, one per recording. Never the
    payload's sessionId, which names the meeting session: a class recorded twice (stopped
    and started again) has one session and two recordings. Without it, the file's path
    in the link names the recording (the query is the signature, which may change)."""
    own = re.sub(r"[^A-Za-z0-9_-]", "", str(data.get("recordingSessionId") or ""))[:100]
    if own:
        return f"jaas-{own}"
    return "jaas-file-" + hashlib.sha256(urlparse(link).path.encode()).hexdigest()[:32]


def _handle_jaas_event(
    meeting: MeetingRecord, settings: Mapping[str, Any], payload: Mapping[str, Any]
) -> dict[str, Any]:
    event = payload.get("eventType")
    raw_data = payload.get("data")
    data: Mapping[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    breakout = bool(data.get("isBreakout"))
    at = _epoch_seconds(payload.get("timestamp"))
    if event == "ROOM_CREATED" and not breakout:
        _room_created(meeting, at)
    elif event == "ROOM_DESTROYED" and not breakout:
        return {"ended": _room_destroyed(meeting, settings, at)}
    elif event in ("PARTICIPANT_JOINED", "PARTICIPANT_LEFT"):
        # JaaS does not deliver in order; its timestamp is the truth.
        _occupant(
            meeting,
            data,
            left=event == "PARTICIPANT_LEFT",
            source="jaas",
            at=payload.get("timestamp"),
        )
    elif event == "RECORDING_UPLOADED":
        link = data.get("preAuthenticatedLink")
        if not isinstance(link, str) or urlparse(link).scheme not in ("http", "https"):
            raise ValidationFailed("RECORDING_UPLOADED needs data.preAuthenticatedLink")
        record_id = _jaas_record_id(data, link)
        duration = data.get("durationSec")
        plausible = (  # not NaN, Infinity
            int(duration) if isinstance(duration, int | float) and 0 <= duration < 10**7 else None
        )
        recordings.queue_download(
            meeting,
            record_id=record_id,
            url=link,
            recorded_at=_epoch_seconds(data.get("startTimestamp")) or at,
            duration_seconds=plausible,
        )
        # Download now; on failure the periodic job retries until the 24 h link expires.
        stored = recordings.process_downloads(meeting, settings)
        return {"record_id": record_id, "stored": bool(stored)}
    return {}


# Jibri finalize uploads ------------------------------------------------------------------


@blueprint.post("/recordings")
def jibri_upload():
    """Upload from the Jibri finalize script: multipart `recording` (mp4) and `metadata`
    (Jibri's metadata.json, file or field), optional `session_id`; Bearer upload token."""
    configs = _configs_with_secret("recording_upload_token", _bearer())
    if not configs:
        raise NotAuthenticated(
            "a valid recording upload token is required", code="invalid_upload_token"
        )
    # Recordings are larger than the portal's default request limit; raise it for this
    # request only, to the largest limit of the configurations the caller proved.
    request.max_content_length = (
        max(int(s.get("max_recording_mb") or 2048) for s in configs.values()) * 1024 * 1024
    )
    upload = request.files.get("recording")
    if upload is None:
        raise ValidationFailed("the multipart field 'recording' (the mp4 file) is required")
    raw_meta = (
        request.files["metadata"].read()
        if "metadata" in request.files
        else request.form.get("metadata", "")
    )
    try:
        metadata = json.loads(raw_meta or "{}")
    except ValueError as exc:
        raise ValidationFailed("metadata must be Jibri's metadata.json") from exc
    meeting_url = str(metadata.get("meeting_url") or "") if isinstance(metadata, dict) else ""
    room = urlparse(meeting_url).path.rstrip("/").rsplit("/", 1)[-1]
    if not room:
        raise ValidationFailed("metadata.meeting_url must name the room")
    found = _meeting_for(room, configs)
    if found is None:
        tenant_room = "/".join(urlparse(meeting_url).path.strip("/").split("/")[-2:])
        found = _meeting_for(tenant_room, configs)
    if found is None:
        raise NotFound("no portal class uses this room")
    meeting = found[0]
    session = request.form.get("session_id") or (upload.filename or "").rsplit(".", 1)[0]
    session = re.sub(r"[^A-Za-z0-9_-]", "", session)[:100]
    if not session:
        raise ValidationFailed("session_id is required")
    record_id = f"jibri-{session}"
    if record_id in recordings.known_record_ids(meeting):
        return jsonify({"status": "duplicate", "record_id": record_id}), 200
    data = upload.read()
    if not recordings.looks_like_mp4(data):
        raise ValidationFailed("the recording is not an mp4 file", code="not_mp4")
    try:
        mtime = float(request.form.get("recorded_at", "")) or None
    except ValueError:
        mtime = None
    recorded_at = datetime.fromtimestamp(mtime, UTC) if mtime else None
    row, created = recordings.store_file(
        meeting, data, record_id=record_id, recorded_at=recorded_at, duration_seconds=None
    )
    return jsonify(
        {
            "status": "stored" if created else "duplicate",
            "record_id": record_id,
            "recording_id": row.id,
        }
    ), 201 if created else 200
