"""The "jitsi" MeetingBackend: self-hosted Jitsi Meet with token auth, or 8x8 JaaS.

Jitsi has no create or end API: a room exists while someone is in it. So create_meeting
only names the room, join hands out a signed token, and the room's life is learnt from
prosody event_sync POSTs or JaaS webhooks (see views.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlparse

import requests
from flask import current_app, url_for

from portal.plugins import (
    HOLDS_WAITING_ROOM,
    BackendError,
    BackendUnavailable,
    Capabilities,
    HealthResult,
    JoinTarget,
    MeetingHandle,
    MeetingSpec,
    MeetingStatus,
    Participant,
    RecordingInfo,
)
from portal.plugins.i18n import domain

from . import tokens

log = logging.getLogger(__name__)
# The plugin's own catalogue: its health and error messages are sentences shown to people.
translations = domain("portal_jitsi_backend")

JAAS_DOMAIN = "8x8.vc"

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "domain": {
            "type": "string",
            "minLength": 3,
            "pattern": r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
            "description": "host of the Jitsi web client, with a port if it has one "
            "(meet.example.org, meet.example.org:8443); 8x8.vc for JaaS",
        },
        "xmpp_domain": {
            "type": "string",
            "default": "",
            "pattern": r"^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)?$",
            "description": "prosody's XMPP domain (its VirtualHost; the sub of tokens), when it "
            "differs from the web host (docker-jitsi-meet: meet.jitsi); empty means "
            "the host of domain without its port",
        },
        "mode": {
            "type": "string",
            "enum": ["self_hosted", "jaas"],
            "default": "self_hosted",
            "description": "self_hosted: prosody token auth with app_id/app_secret (HS256); "
            "jaas: 8x8 JaaS (RS256)",
        },
        "web_url": {
            "type": "string",
            "default": "",
            "pattern": r"^(https?://[^/?#\s]+(/[^?#\s]*)?)?$",
            "description": "base URL of the web client when it is not https://<domain>, e.g. "
            "http://127.0.0.1:8000/jitsi/ (the page then embeds that scheme, host and path)",
        },
        "app_id": {
            "type": "string",
            "minLength": 1,
            "description": "prosody app_id (self-hosted) or the JaaS AppID "
            "(vpaas-magic-cookie-...)",
        },
        "app_secret": {
            "type": "string",
            "minLength": 8,
            "writeOnly": True,
            "description": "prosody app_secret (self-hosted, HS256)",
        },
        "issuer": {"type": "string", "default": "", "description": "iss claim; empty means app_id"},
        "audience": {
            "type": "string",
            "default": "jitsi",
            "description": "aud claim (self-hosted)",
        },
        "subject": {
            "type": "string",
            "default": "",
            "description": "sub claim; empty means the XMPP domain",
        },
        "jaas_key_id": {
            "type": "string",
            "default": "",
            "description": "JaaS API key id (AppID/keyid or keyid)",
        },
        "jaas_private_key": {
            "type": "string",
            "writeOnly": True,
            "description": "JaaS API private key (PEM)",
        },
        "token_lifetime_seconds": {
            "type": "integer",
            "minimum": 60,
            "maximum": 86400,
            "default": 10800,
            "description": "longest token validity; tokens also expire "
            "token_grace_seconds after the class's scheduled end",
        },
        "token_grace_seconds": {
            "type": "integer",
            "minimum": 60,
            "maximum": 86400,
            "default": 1800,
            "description": "how long after the scheduled end tokens stay valid (a class that "
            "runs over); a later join still gets this long",
        },
        "clock_skew_seconds": {"type": "integer", "minimum": 0, "maximum": 600, "default": 60},
        "start_audio_muted": {"type": "boolean", "default": True},
        "start_video_muted": {"type": "boolean", "default": False},
        "prejoin_page": {"type": "boolean", "default": True},
        "lobby": {
            "type": "boolean",
            "default": False,
            "description": "a class's waiting room is Jitsi's lobby: students and guests knock "
            "in Jitsi and the teacher admits them there (the teacher's room turns the lobby on; "
            "the deployment runs muc_lobby_rooms and token_lobby_bypass); off: the portal's "
            "lobby holds them before Jitsi",
        },
        "token_affiliation": {
            "type": "boolean",
            "default": True,
            "description": "the deployment runs token_affiliation with jicofo auto-owner off",
        },
        "events_token": {
            "type": "string",
            "minLength": 16,
            "writeOnly": True,
            "description": "bearer token prosody event_sync sends (api_headers)",
        },
        "end_on_room_destroyed": {
            "type": "string",
            "enum": ["after_scheduled_end", "always", "never"],
            "default": "after_scheduled_end",
        },
        "end_meeting_url": {
            "type": "string",
            "default": "",
            "description": "mod_muc_end_meeting endpoint, e.g. http://prosody:5280/end-meeting",
        },
        "muc_domain": {
            "type": "string",
            "default": "",
            "description": "MUC component; empty means conference.<XMPP domain> "
            "(docker-jitsi-meet: muc.meet.jitsi)",
        },
        "end_meeting_algorithm": {
            "type": "string",
            "enum": ["", "HS256", "RS256"],
            "default": "",
            "description": "how mod_muc_end_meeting verifies the system token; empty means "
            "as the host's login tokens: HS256 with app_secret (self-hosted), "
            "RS256 with the JaaS key (JaaS)",
        },
        "end_meeting_kid": {
            "type": "string",
            "default": "",
            "description": "kid of the system token (the key file name is sha256(kid).pem); "
            "empty means app_id (JaaS: the API key id)",
        },
        "end_meeting_private_key": {
            "type": "string",
            "writeOnly": True,
            "description": "PEM private key of a dedicated RS256 key pair "
            "(end_meeting_algorithm RS256)",
        },
        "end_meeting_token": {
            "type": "string",
            "writeOnly": True,
            "description": "a ready-made system token instead of the private key",
        },
        "jaas_webhook_secret": {"type": "string", "minLength": 8, "writeOnly": True},
        "webhook_tolerance_seconds": {
            "type": "integer",
            "minimum": 30,
            "maximum": 86400,
            "default": 300,
        },
        "recording_upload_token": {
            "type": "string",
            "minLength": 16,
            "writeOnly": True,
            "description": "bearer token of the Jibri finalize script",
        },
        "max_recording_mb": {"type": "integer", "minimum": 1, "maximum": 16384, "default": 2048},
    },
    "required": ["domain", "app_id"],
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"properties": {"mode": {"const": "jaas"}}, "required": ["mode"]},
            "then": {"required": ["jaas_key_id", "jaas_private_key"]},
            "else": {"required": ["app_secret"]},
        }
    ],
}


def web_url(settings: Mapping[str, Any]) -> str:
    """Base URL of the web client, without a trailing slash (it may have a path)."""
    base = str(settings.get("web_url") or "").rstrip("/")
    return base or f"https://{settings['domain']}"


def iframe_domain(settings: Mapping[str, Any]) -> tuple[str, bool]:
    """What JitsiMeetExternalAPI(domain, {noSSL}) needs to open the web client: it builds
    `<http or https>://<domain>/<roomName>`, so the domain carries the port and path."""
    parsed = urlparse(web_url(settings))
    return parsed.netloc + parsed.path.rstrip("/"), parsed.scheme == "http"


def external_api_url(settings: Mapping[str, Any]) -> str:
    if tokens.is_jaas(settings):
        return f"{web_url(settings)}/{settings['app_id']}/external_api.js"
    return f"{web_url(settings)}/external_api.js"


# What a "viewer only" guest's toolbar keeps: no microphone, camera or screen share.
VIEWER_TOOLBAR = ["chat", "fullscreen", "hangup", "participants-pane", "tileview"]


def config_overwrite(
    settings: Mapping[str, Any], *, lobby: bool = False, viewer_only: bool = False
) -> dict[str, Any]:
    """Defaults handed to the IFrame API (and to redirects as #config.* parameters)."""
    prejoin = bool(settings.get("prejoin_page", True))
    overwrite: dict[str, Any] = {
        "startWithAudioMuted": bool(settings.get("start_audio_muted", True)),
        "startWithVideoMuted": bool(settings.get("start_video_muted", False)),
        "prejoinConfig": {"enabled": prejoin},
        "prejoinPageEnabled": prejoin,  # older web clients read this one
        "disableDeepLinking": True,  # stay in the browser next to the portal's panel
    }
    if lobby:
        overwrite["lobby"] = {"autoKnock": True, "enableChat": True}
    if viewer_only:
        # Watch and listen: start muted with the camera off, and no buttons to change that.
        overwrite["startWithAudioMuted"] = overwrite["startWithVideoMuted"] = True
        overwrite["toolbarButtons"] = list(VIEWER_TOOLBAR)
    return overwrite


def _hash_params(overwrite: Mapping[str, Any]) -> str:
    """Jitsi reads `#config.key=value` (JSON values) from the URL fragment."""
    import json

    flat = {
        "config.startWithAudioMuted": overwrite["startWithAudioMuted"],
        "config.startWithVideoMuted": overwrite["startWithVideoMuted"],
        "config.prejoinConfig.enabled": overwrite["prejoinConfig"]["enabled"],
        "config.disableDeepLinking": True,
    }
    for key in ("toolbarButtons", "lobby"):
        if key in overwrite:
            flat[f"config.{key}"] = overwrite[key]
    return "&".join(f"{k}={quote(json.dumps(v))}" for k, v in flat.items())


class JitsiBackend:
    name = "jitsi"
    label = "Jitsi Meet"
    # Honest: no slide preload (Jitsi has no presentation upload), ending a room needs
    # mod_muc_end_meeting, which the portal calls from the class_ended event when it is
    # configured, so "end" is not promised; recording needs Jibri or JaaS.
    capabilities = Capabilities(
        recording=True,
        slides=False,
        breakout=True,
        lobby=True,
        end=False,
        attendance=True,
        embed=True,
        # Jitsi's client config can start everyone muted; camera, screen-share and private
        # chat locks are not something a token or config can enforce on stock Jitsi.
        room_settings=("mute_on_entry",),
    )
    settings_schema = SETTINGS_SCHEMA

    # Lifecycle ---------------------------------------------------------------------

    def create_meeting(self, settings: Mapping[str, Any], spec: MeetingSpec) -> MeetingHandle:
        room = tokens.room_name(spec.meeting_key, spec.title, current_app.config["SECRET_KEY"])
        meeting_id = tokens.room_path(settings, room).lower()
        data = {
            "room": room,
            "mode": settings.get("mode", "self_hosted"),
            "domain": settings["domain"],
            "record": bool(spec.record),
            "mute_on_entry": bool(spec.room.mute_on_entry),
            # The class's waiting room is Jitsi's lobby where the admin set that up.
            HOLDS_WAITING_ROOM: bool(spec.waiting_room and settings.get("lobby")),
            "ends_at": int(spec.ends_at.timestamp()),  # tokens expire a little after it
            "room_active": False,
            "occupants": 0,
            "recordings": [],
        }
        return MeetingHandle(backend=self.name, meeting_id=meeting_id, data=data)

    def join(
        self, settings: Mapping[str, Any], handle: MeetingHandle, participant: Participant
    ) -> JoinTarget:
        room = handle.data.get("room") or handle.meeting_id.rsplit("/", 1)[-1]
        token = tokens.participant_token(
            settings,
            room,
            participant,
            record_allowed=bool(handle.data.get("record")),
            ends_at=handle.data.get("ends_at"),
        )
        path = tokens.room_path(settings, room)
        moderator = participant.role == "moderator"
        held = handle.holds_waiting_room
        overwrite = config_overwrite(settings, lobby=held, viewer_only=participant.viewer_only)
        if handle.data.get("mute_on_entry"):
            # "Mute everyone when they enter": the class turns it on over the server default.
            overwrite["startWithAudioMuted"] = True
        url = f"{web_url(settings)}/{path}?{urlencode({'jwt': token})}#{_hash_params(overwrite)}"
        domain, no_ssl = iframe_domain(settings)
        embed = {
            "external_api_url": external_api_url(settings),
            "domain": domain,
            "noSSL": no_ssl,
            "roomName": path,
            "jwt": token,
            "configOverwrite": overwrite,
            "interfaceConfigOverwrite": {},
            "userInfo": {"displayName": participant.name, "email": participant.email or ""},
            "moderator": moderator,
            # The teacher's room script turns Jitsi's lobby on (executeCommand toggleLobby):
            # the class's waiting room, held by Jitsi.
            "lobby": held and moderator,
            "viewer_only": participant.viewer_only,
            # The class room mounts the IFrame API through the plugin's own room script.
            "room_script": url_for("jitsi_backend.static", filename="jitsi-room.js"),
            "room_module": "jitsi",
        }
        return JoinTarget(kind="embed", url=url, embed=embed)

    def end_meeting(self, settings: Mapping[str, Any], handle: MeetingHandle) -> None:
        """Destroy the room through mod_muc_end_meeting; without it, only new tokens stop
        (the core refuses joins of an ended class) and the room empties by itself."""
        if not end_module_configured(settings):
            return
        room = handle.data.get("room") or handle.meeting_id
        muc = tokens.muc_domain(settings)
        url = str(settings["end_meeting_url"])
        timeout = current_app.config.get("BACKEND_TIMEOUT_SECONDS", 10)
        try:
            response = requests.post(
                url,
                params={"conference": f"{room}@{muc}"},
                headers={"Authorization": f"Bearer {tokens.system_token(settings)}"},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise BackendUnavailable(
                translations.gettext(
                    "the Jitsi end-meeting endpoint did not answer (%(error)s)",
                    error=exc.__class__.__name__,
                )
            ) from exc
        if response.status_code in (200, 404):  # 404: nobody was in the room any more
            return
        if response.status_code == 401:
            raise BackendError(
                translations.gettext(
                    "the Jitsi end-meeting endpoint refused the portal's system token"
                ),
                code="jitsi_end_unauthorized",
            )
        raise BackendUnavailable(
            translations.gettext(
                "the Jitsi end-meeting endpoint answered HTTP %(status)s",
                status=response.status_code,
            )
        )

    def status(self, settings: Mapping[str, Any], handle: MeetingHandle) -> MeetingStatus:
        # Known only from events: without event_sync / webhooks this stays "not running".
        return MeetingStatus(
            running=bool(handle.data.get("room_active")),
            participant_count=int(handle.data.get("occupants") or 0),
            ended=bool(handle.data.get("room_destroyed_at")) and not handle.data.get("room_active"),
        )

    # Recordings ----------------------------------------------------------------------

    def list_recordings(
        self, settings: Mapping[str, Any], handle: MeetingHandle
    ) -> list[RecordingInfo]:
        out = []
        for item in handle.data.get("recordings") or []:
            recorded = item.get("recorded_at")
            out.append(
                RecordingInfo(
                    record_id=item["record_id"],
                    title=item.get("title") or "Recording",
                    recorded_at=datetime.fromtimestamp(recorded, UTC)
                    if isinstance(recorded, int | float)
                    else None,
                    duration_seconds=item.get("duration_seconds"),
                    format="video",
                )
            )
        return out

    def publish_recording(
        self, settings: Mapping[str, Any], record_id: str, published: bool
    ) -> None:
        # The files live in the portal's storage; visibility is the portal's own flag.
        return None

    def delete_recording(self, settings: Mapping[str, Any], record_id: str) -> None:
        # Nothing is kept on the Jitsi side (Jibri hands the file over, JaaS deletes
        # its copy after 24 h); the portal deletes its stored file itself.
        return None

    def check_health(self, settings: Mapping[str, Any]) -> HealthResult:
        try:
            tokens.participant_token(
                settings,
                "health-check",
                Participant(user_id=0, name="health", email="", role="viewer"),
                record_allowed=False,
            )
        except BackendError as exc:
            return HealthResult(ok=False, message=exc.user_message)
        url = external_api_url(settings)
        started = time.perf_counter()
        try:
            response = requests.get(
                url, timeout=current_app.config.get("BACKEND_TIMEOUT_SECONDS", 10)
            )
        except requests.RequestException as exc:
            return HealthResult(
                ok=False,
                message=translations.gettext(
                    "%(url)s is not reachable (%(error)s)", url=url, error=exc.__class__.__name__
                ),
            )
        latency = round((time.perf_counter() - started) * 1000, 1)
        if response.status_code != 200:
            return HealthResult(
                ok=False,
                message=translations.gettext(
                    "%(url)s answered HTTP %(status)s", url=url, status=response.status_code
                ),
                latency_ms=latency,
            )
        if not tokens.is_jaas(settings) and not settings.get("token_affiliation", True):
            message = translations.gettext(
                "Jitsi web client reachable; token_affiliation is off, so every token holder "
                "may become a moderator"
            )
        else:
            message = translations.gettext("Jitsi web client reachable")
        return HealthResult(ok=True, message=message, latency_ms=latency)


def end_module_configured(settings: Mapping[str, Any]) -> bool:
    # The system token is signed with the keys the configuration already has (app_secret,
    # the JaaS key) unless a ready-made token or a dedicated key is given: the URL suffices.
    return bool(settings.get("end_meeting_url"))


BACKEND = JitsiBackend()
