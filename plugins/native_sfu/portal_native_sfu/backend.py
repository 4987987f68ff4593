"""The `native_sfu` meeting backend: the bundled aiortc SFU, reached over the local channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app, url_for
from flask_jwt_extended import create_access_token

from portal.plugins import (
    AttendeeInfo,
    BackendError,
    BackendUnavailable,
    Capabilities,
    FloorGrant,
    HealthResult,
    JoinTarget,
    MeetingHandle,
    MeetingSpec,
    MeetingStatus,
    Participant,
    RecordingInfo,
    services,
)
from portal.plugins.floor import grants_of
from portal.plugins.i18n import domain
from portal_native_sfu.channel import WorkerError, WorkerPool, pool_from_app

NAME = "native_sfu"
# The plugin's own catalogue: health and error messages are sentences shown to people.
translations = domain("portal_native_sfu")


def ice_servers(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """STUN/TURN servers from the admin's settings; none by default (loopback / LAN)."""
    servers: list[dict[str, Any]] = [{"urls": url} for url in settings.get("stun_urls") or []]
    for url in settings.get("turn_urls") or []:
        server: dict[str, Any] = {"urls": url}
        if settings.get("turn_username"):
            server["username"] = settings["turn_username"]
            server["credential"] = settings.get("turn_credential") or ""
        servers.append(server)
    return servers


def server_ice_servers(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SFU's own STUN servers for its peer connections; none by default.

    Separate from the clients' list: the server usually has a public or LAN address and
    needs no server-reflexive candidate, and an unreachable STUN server would hold every
    WHIP/WHEP answer until aioice gives up on it.
    """
    return [{"urls": url} for url in settings.get("server_stun_urls") or []]


def pool() -> WorkerPool:
    return pool_from_app(current_app)


def room_restrictions(data: Mapping[str, Any]) -> dict[str, bool]:
    """What the class's room settings (kept in the meeting's data) forbid students to send,
    whatever the floor grants: {"camera": ..., "screen": ...}."""
    return {
        "camera": bool(data.get("cameras_teachers_only")),
        "screen": data.get("screen_share") == "teachers",
    }


def room_limits(data: Mapping[str, Any], floor: FloorGrant) -> FloorGrant:
    """A student's floor grant minus what the room settings forbid."""
    refused = room_restrictions(data)
    return FloorGrant(
        mic=floor.mic,
        camera=floor.camera and not refused["camera"],
        screen=floor.screen and not refused["screen"],
        mic_muted=floor.mic_muted,
    )


class NativeSfuBackend:
    name = NAME
    label = "Built-in video (SFU)"
    # Slides are shown by the portal's class page next to the video, not by the SFU.
    capabilities = Capabilities(
        recording=True,
        slides=False,
        breakout=False,
        lobby=False,
        end=True,
        attendance=True,
        embed=True,
        # Enforced by the SFU's publish check (views._floor); chat is the portal's own.
        room_settings=("cameras_teachers_only", "screen_share"),
    )
    settings_schema: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "stun_urls": {
                "type": "array",
                "items": {"type": "string", "pattern": "^stuns?:"},
                "default": [],
                "description": "STUN servers handed to clients (not used by the server), e.g. "
                "stun:stun.example.org:3478",
            },
            "turn_urls": {
                "type": "array",
                "items": {"type": "string", "pattern": "^turns?:"},
                "default": [],
                "description": "TURN servers for clients behind strict NATs",
            },
            "turn_username": {"type": "string", "default": ""},
            "turn_credential": {"type": "string", "writeOnly": True},
            "server_stun_urls": {
                "type": "array",
                "items": {"type": "string", "pattern": "^stuns?:"},
                "default": [],
                "description": "STUN servers the SFU itself uses (only behind NAT); not sent to "
                "clients",
            },
            "cors_origins": {
                "type": "array",
                "items": {"type": "string", "pattern": "^https?://[^/\\s]+$"},
                "default": [],
                "description": "other web origins whose pages may publish and watch, e.g. https://media.example.org",
            },
            "max_publishers": {
                "type": "integer",
                "minimum": 1,
                "maximum": 50,
                "default": 10,
                "description": "camera/screen streams allowed at once in one class",
            },
        },
        "additionalProperties": False,
    }

    def create_meeting(self, settings: Mapping[str, Any], spec: MeetingSpec) -> MeetingHandle:
        room = spec.meeting_key
        try:
            pool().call(
                room,
                "ensure_room",
                {"record": spec.record, "max_publishers": settings.get("max_publishers")},
            )
        except WorkerError as exc:
            raise BackendError(exc.shown, code=exc.code) from exc
        return MeetingHandle(
            backend=NAME,
            meeting_id=room,
            data={
                "room": room,
                "record": spec.record,
                "schedule_id": spec.schedule_id,
                # What students may publish beyond the floor's grants (views._floor).
                "cameras_teachers_only": spec.room.cameras_teachers_only,
                "screen_share": spec.room.screen_share,
            },
        )

    def join(
        self, settings: Mapping[str, Any], handle: MeetingHandle, participant: Participant
    ) -> JoinTarget:
        (target,) = self.join_many(settings, handle, [participant])
        return target

    def join_many(
        self,
        settings: Mapping[str, Any],
        handle: MeetingHandle,
        participants: Sequence[Participant],
    ) -> list[JoinTarget]:
        """The room's URLs are built once and the students' floor grants read in one query:
        at a class's pushed start its ~100 students arrive in one batch, and a query per
        student was most of the join's time (docs/bench.md)."""
        room = handle.meeting_id
        schedule_id = handle.data.get("schedule_id")
        grants = (
            grants_of(
                int(schedule_id),
                [
                    p.user_id
                    for p in participants
                    if p.role != "moderator" and not (p.guest or p.viewer_only)
                ],
            )
            if schedule_id
            else {}
        )
        room_embed = {
            "room": room,
            "whip_url": url_for("native_sfu.whip", room=room, _external=True),
            "whep_url": url_for("native_sfu.whep", room=room, _external=True),
            "publishers_url": url_for("native_sfu.publishers", room=room, _external=True),
            "client_js": url_for("native_sfu.static", filename="sfu-client.js", _external=True),
            # The core room page loads these and calls the module's mount() (docs/plugins.md).
            "room_script": url_for("native_sfu.static", filename="sfu-room.js", _external=True),
            "room_styles": [url_for("native_sfu.static", filename="sfu-room.css", _external=True)],
            "room_module": NAME,
            "ice_servers": ice_servers(settings),
            "schedule_id": schedule_id,
            "floor_url": url_for("api.floor_state", schedule_id=schedule_id, _external=True)
            if schedule_id
            else None,
        }
        page = url_for("native_sfu.room_page", room=room, _external=True)
        targets = []
        for participant in participants:
            manager = participant.role == "moderator"
            if participant.guest and schedule_id:
                # A guest has no account, so no JWT: a credential for this one occurrence's
                # room, good for watching only (views._bearer_user).
                token = services.guest_room_credential(-participant.user_id, int(schedule_id))
            else:
                token = create_access_token(
                    identity=str(participant.user_id),
                    additional_claims={"role": participant.portal_role, "sfu_room": room},
                )
            if manager:
                floor = FloorGrant(mic=True, camera=True, screen=True)
            elif participant.user_id in grants:
                floor = room_limits(handle.data, grants[participant.user_id])
            else:  # a viewer session (subscribe only), or a meeting older than the floor
                floor = FloorGrant()
            targets.append(
                JoinTarget(
                    kind="embed",
                    url=page,
                    embed={
                        **room_embed,  # shared by the batch's targets, never changed
                        "token": token,
                        "user_id": participant.user_id,
                        "manager": manager,
                        "can_publish": floor.any,
                        "floor": floor.as_dict(),
                    },
                )
            )
        return targets

    def end_meeting(self, settings: Mapping[str, Any], handle: MeetingHandle) -> None:
        try:
            pool().call(handle.meeting_id, "close_room")
        except WorkerError as exc:
            raise BackendError(exc.shown, code=exc.code) from exc

    def status(self, settings: Mapping[str, Any], handle: MeetingHandle) -> MeetingStatus:
        try:
            room = pool().call(handle.meeting_id, "room")
        except WorkerError:
            return MeetingStatus(running=False, ended=True)
        people: dict[int | None, AttendeeInfo] = {}
        for session in room["sessions"]:
            people[session["user_id"]] = AttendeeInfo(
                name=session.get("name") or "",
                user_id=session["user_id"],
                role="publisher" if session["role"] == "publish" else "viewer",
            )
        return MeetingStatus(
            running=not room["closed"],
            participant_count=len(people),
            attendees=list(people.values()),
            ended=room["closed"],
        )

    def list_recordings(
        self, settings: Mapping[str, Any], handle: MeetingHandle
    ) -> list[RecordingInfo]:
        # Recordings are pushed into the portal when the class ends (see plugin.class_ended).
        return []

    def publish_recording(
        self, settings: Mapping[str, Any], record_id: str, published: bool
    ) -> None:
        """The portal serves SFU recordings itself: visibility is the portal's flag alone."""

    def delete_recording(self, settings: Mapping[str, Any], record_id: str) -> None:
        """The file lives in portal storage, which the core cleans up with the row."""

    def retry_recording(self, settings: Mapping[str, Any], handle: MeetingHandle) -> None:
        """The class page's Retry of a failed assembly: queue it again (the segments were
        kept); the job reports its progress to the portal."""
        from portal_native_sfu.plugin import queue_assembly

        meeting = services.find_meeting(NAME, handle.meeting_id)
        if meeting is None:
            raise BackendError(
                translations.gettext("this lesson is not known to the video server"),
                code="no_room",
            )
        queue_assembly(meeting.id)

    def check_health(self, settings: Mapping[str, Any]) -> HealthResult:
        try:
            reply = pool().call(None, "ping", index=0, timeout=5)
        except BackendUnavailable as exc:
            return HealthResult(ok=False, message=exc.user_message)
        return HealthResult(
            ok=True,
            message=translations.ngettext(
                "SFU worker running (pid %(pid)s, %(num)d room)",
                "SFU worker running (pid %(pid)s, %(num)d rooms)",
                reply["rooms"],
                pid=reply["pid"],
            ),
        )


BACKEND = NativeSfuBackend()
