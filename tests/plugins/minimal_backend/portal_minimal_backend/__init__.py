"""A third-party meeting backend written from docs/plugins.md alone.

It imports nothing of the portal but `portal.plugins` (the types, the errors, `hookimpl`
and the `services` facade), like any plugin published on PyPI would. The "server" is a
room URL; a room's events (someone left, the room closed) arrive as signed callbacks.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, jsonify, request

from portal.plugins import (
    Capabilities,
    HealthResult,
    JoinTarget,
    MeetingHandle,
    MeetingSpec,
    MeetingStatus,
    NotAuthenticated,
    NotFound,
    Participant,
    RecordingInfo,
    ValidationFailed,
    hookimpl,
    services,
)

NAME = "minimal"


class MinimalBackend:
    name = NAME
    label = "Minimal rooms"
    capabilities = Capabilities(end=True, attendance=True)
    settings_schema = {
        "type": "object",
        "properties": {
            "room_url": {"type": "string", "default": "https://rooms.example"},
            "callback_secret": {"type": "string", "writeOnly": True, "minLength": 8},
        },
        "required": ["callback_secret"],
    }

    def __init__(self) -> None:
        self.ended: list[str] = []

    def create_meeting(self, settings: Mapping[str, Any], spec: MeetingSpec) -> MeetingHandle:
        room = f"{settings['room_url'].rstrip('/')}/{spec.meeting_key}"
        return MeetingHandle(
            backend=NAME, meeting_id=spec.meeting_key, data={"room": room, "joins": 0}
        )

    def join(
        self, settings: Mapping[str, Any], handle: MeetingHandle, participant: Participant
    ) -> JoinTarget:
        # The portal role comes with the participant: no need to look the user up.
        return JoinTarget(
            kind="redirect",
            url=f"{handle.data['room']}?user={participant.user_id}&as={participant.portal_role}"
            f"&role={participant.role}",
        )

    def end_meeting(self, settings: Mapping[str, Any], handle: MeetingHandle) -> None:
        self.ended.append(handle.meeting_id)

    def status(self, settings: Mapping[str, Any], handle: MeetingHandle) -> MeetingStatus:
        return MeetingStatus(running=handle.meeting_id not in self.ended)

    def list_recordings(
        self, settings: Mapping[str, Any], handle: MeetingHandle
    ) -> list[RecordingInfo]:
        return []

    def publish_recording(
        self, settings: Mapping[str, Any], record_id: str, published: bool
    ) -> None:
        return None

    def delete_recording(self, settings: Mapping[str, Any], record_id: str) -> None:
        return None

    def check_health(self, settings: Mapping[str, Any]) -> HealthResult:
        return HealthResult(ok=True, message="rooms are always up")


BACKEND = MinimalBackend()

bp = Blueprint("minimal_backend", __name__, url_prefix="/plugins/minimal")
bp.json_errors = True


@bp.post("/events")
def room_event():
    """{"room": <meeting id>, "event": "left" | "closed", "user_id", "name"}, signed with
    the configuration's callback_secret in X-Room-Secret."""
    presented = request.headers.get("X-Room-Secret", "")
    signers = {
        config_id
        for config_id, settings in services.backend_settings(NAME)
        if hmac.compare_digest(presented.encode(), str(settings["callback_secret"]).encode())
    }
    if not signers:
        raise NotAuthenticated("wrong room secret", code="bad_secret")
    body = request.get_json(silent=True) or {}
    meeting = services.find_meeting(NAME, str(body.get("room") or ""))
    if meeting is None or meeting.backend_config_id not in signers:
        raise NotFound("no such room")
    if body.get("event") == "left":
        with services.unit_of_work():
            services.record_attendance(
                meeting.id, body.get("user_id"), str(body.get("name") or ""), NAME, left=True
            )
        return jsonify(recorded=True)
    if body.get("event") == "closed":
        return jsonify(ended=services.mark_meeting_ended(meeting.id))
    raise ValidationFailed("event must be 'left' or 'closed'")


@hookimpl
def register_meeting_backends(register) -> None:
    register(BACKEND)


@hookimpl
def register_blueprints(app) -> None:
    app.register_blueprint(bp)


@hookimpl
def participant_joined(meeting, user, target) -> None:
    """Count the join links handed out, in the meeting's data (compare-and-set)."""
    if meeting.backend == NAME:
        services.update_meeting_data(
            meeting.id, lambda data: data.update(joins=data.get("joins", 0) + 1)
        )
