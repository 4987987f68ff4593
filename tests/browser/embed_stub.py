"""Test-only backend whose join targets are embeds (Jitsi IFrame API or an SFU player),
plus the static files standing in for Jitsi's external_api.js and an SFU plugin's JS."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, url_for

from portal.plugins import (
    Capabilities,
    HealthResult,
    JoinTarget,
    MeetingHandle,
    MeetingStatus,
    hookimpl,
)

STATIC = Path(__file__).resolve().parent / "embed_static"


class EmbedBackend:
    name = "embedstub"
    label = "Embedded meetings"
    capabilities = Capabilities(end=True, embed=True)
    settings_schema = {
        "type": "object",
        "properties": {"mode": {"type": "string", "enum": ["jitsi", "sfu", "custom"]}},
    }

    def create_meeting(self, settings, spec):
        return MeetingHandle(backend=self.name, meeting_id=spec.meeting_key)

    def join(self, settings, handle, participant):
        # The shapes the Jitsi and native SFU plugins return (portal_jitsi_backend.backend,
        # portal_native_sfu.backend), with local test doubles for the code they load: the
        # Jitsi mode mounts through the real Jitsi plugin's room script.
        room = handle.meeting_id
        if settings.get("mode") == "jitsi":
            return JoinTarget(
                kind="embed",
                url=f"https://meet.example/{room}?jwt=x",
                embed={
                    "external_api_url": "/stub-jitsi/external_api.js",
                    "domain": "meet.example",
                    "roomName": room,
                    "jwt": f"token-for-{participant.user_id}",
                    "configOverwrite": {"prejoinPageEnabled": False},
                    "interfaceConfigOverwrite": {},
                    "userInfo": {"displayName": participant.name},
                    "moderator": participant.role == "moderator",
                    # As the Jitsi plugin: its lobby holds the waiting room (setting "lobby"),
                    # the teacher's room turns it on; a viewer-only guest stays muted.
                    "lobby": participant.role == "moderator" and bool(settings.get("lobby")),
                    "viewer_only": participant.viewer_only,
                    "room_script": url_for("jitsi_backend.static", filename="jitsi-room.js"),
                    "room_module": "jitsi",
                },
            )
        if settings.get("mode") == "sfu":
            base = f"/sfu/rooms/{room}"
            return JoinTarget(
                kind="embed",
                url=base,
                embed={
                    "room": room,
                    "whip_url": base + "/whip",
                    "whep_url": base + "/whep",
                    "publishers_url": base + "/publishers",
                    "client_js": "/stub-sfu/sfu-client.js",
                    "token": "sfu-token",
                    "ice_servers": [{"urls": "stun:stun.example"}],
                    "manager": participant.role == "moderator",
                    "can_publish": participant.role == "moderator",
                    # The SFU plugin's real room script, over the stand-in client above.
                    "room_script": url_for("native_sfu.static", filename="sfu-room.js"),
                    "room_module": "native_sfu",
                },
            )
        return JoinTarget(
            kind="embed",
            url=f"/custom/{room}",
            embed={
                "room_script": "/stub-custom/player.js",
                "room_module": "custom-player",
                "whep": f"/custom/{room}/whep",
                "whip": f"/custom/{room}/whip",
            },
        )

    def end_meeting(self, settings, handle):
        return None

    def status(self, settings, handle):
        return MeetingStatus(running=True)

    def list_recordings(self, settings, handle):
        return []

    def publish_recording(self, settings, record_id, published):
        return None

    def delete_recording(self, settings, record_id):
        return None

    def check_health(self, settings):
        return HealthResult(ok=True, message="ok")


class EmbedStub:
    @hookimpl
    def register_meeting_backends(self, register):
        register(EmbedBackend())

    @hookimpl
    def register_blueprints(self, app):
        app.register_blueprint(
            Blueprint(
                "stub_jitsi",
                __name__,
                static_folder=str(STATIC / "jitsi"),
                static_url_path="/stub-jitsi",
            )
        )
        app.register_blueprint(
            Blueprint(
                "stub_sfu", __name__, static_folder=str(STATIC / "sfu"), static_url_path="/stub-sfu"
            )
        )
        app.register_blueprint(
            Blueprint(
                "stub_custom",
                __name__,
                static_folder=str(STATIC / "custom"),
                static_url_path="/stub-custom",
            )
        )
