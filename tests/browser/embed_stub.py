"""Test-only backend whose join targets are embeds (Jitsi IFrame API or an SFU player),
plus the static files standing in for Jitsi's external_api.js and an SFU plugin's JS."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

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
    settings_schema = {"type": "object", "properties": {"mode": {"type": "string", "enum": ["jitsi", "sfu"]}}}

    def create_meeting(self, settings, spec):
        return MeetingHandle(backend=self.name, meeting_id=spec.meeting_key)

    def join(self, settings, handle, participant):
        if settings.get("mode") == "jitsi":
            return JoinTarget(kind="embed", url=f"https://meet.example/{handle.meeting_id}", embed={
                "external_api": "/stub-jitsi/external_api.js", "domain": "meet.example",
                "room": handle.meeting_id, "jwt": f"token-for-{participant.user_id}"})
        base = f"/sfu/{handle.meeting_id}"
        return JoinTarget(kind="embed", url=base, embed={"whip": base + "/whip", "whep": base + "/whep"})

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
        app.register_blueprint(Blueprint("stub_jitsi", __name__, static_folder=str(STATIC / "jitsi"),
                                         static_url_path="/stub-jitsi"))
        app.register_blueprint(Blueprint("stub_sfu", __name__, static_folder=str(STATIC / "sfu"),
                                         static_url_path="/stub-sfu"))
