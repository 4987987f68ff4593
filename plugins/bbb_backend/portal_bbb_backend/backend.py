"""The BigBlueButton MeetingBackend: a class occurrence is one BBB meeting (meetingID =
meeting_key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.metadata
import ipaddress
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from portal.plugins import (
    HOLDS_WAITING_ROOM,
    AttendeeInfo,
    BackendError,
    Capabilities,
    HealthResult,
    JoinTarget,
    MeetingHandle,
    MeetingSpec,
    MeetingStatus,
    Participant,
    RecordingInfo,
    SlideRef,
)
from portal.plugins.i18n import gettext

from .client import ALGORITHMS, BBBClient, BBBError, BBBUnavailable, Recording

log = logging.getLogger(__name__)

NAME = "bbb"
# BBB's default POST body limit is 2 MB; keep room for the XML around the base64.
INLINE_LIMIT_BYTES = 2 * 1024 * 1024
# Create parameters an admin may set as defaults for every meeting on this server.
BOOL_CREATE_PARAMS = (
    "autoStartRecording",
    "allowStartStopRecording",
    "muteOnStart",
    "webcamsOnlyForModerator",
    "lockSettingsDisableCam",
    "lockSettingsDisableMic",
    "lockSettingsDisablePrivateChat",
    "lockSettingsDisablePublicChat",
    "lockSettingsDisableNote",
    "lockSettingsHideUserList",
    "lockSettingsLockOnJoin",
    "endWhenNoModerator",
)
# What BBB answers for a meeting it does not know (any more).
GONE_KEYS = ("notFound", "invalidMeetingIdentifier")
# Set by the portal itself; extra_create_params cannot override them.
RESERVED_PARAMS = frozenset(
    {
        "meetingID",
        "name",
        "record",
        "checksum",
        "meta_endCallbackUrl",
        "meta_bbb-recording-ready-url",
        "meta_analytics-callback-url",
    }
)
# Who we are to BBB, Scalelite and Greenlight-style tools (meta_bbb-origin*).
ORIGIN = "classroom-portal"

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["url", "secret"],
    "properties": {
        "url": {
            "type": "string",
            "pattern": "^https?://",
            "title": "API URL",
            "description": "BBB server, Scalelite or bbblb API URL, e.g. https://bbb.example.org/bigbluebutton/api/",
        },
        "secret": {
            "type": "string",
            "writeOnly": True,
            "minLength": 8,
            "title": "Shared secret",
            "description": "bbb-conf --secret on the server, or the Scalelite / bbblb tenant "
            "secret",
        },
        "checksum_algorithm": {
            "type": "string",
            "enum": sorted(ALGORITHMS),
            "default": "sha256",
            "title": "Checksum algorithm",
            "description": "How API calls are signed. sha256 works everywhere; sha1 only for old "
            "servers. "
            "sha384 and sha512 are accepted by BBB servers that allow them "
            "(supportedChecksumAlgorithms in bbb-web.properties), but some BBB-API servers "
            "refuse sha384 (Scalelite takes only sha1, sha256 and sha512): run Test connection "
            "after choosing it",
        },
        "timeout_seconds": {
            "type": "number",
            "minimum": 1,
            "maximum": 60,
            "default": 10,
            "description": "Longest wait for the server in one action (starting a class, a "
            "test), retries included",
        },
        "learning_analytics": {
            "type": "boolean",
            "default": True,
            "description": "Ask BBB for the exact join and leave times of everyone at the end "
            "of each meeting (meta_analytics-callback-url; BBB then keeps the "
            "meeting's events, meetingKeepEvents)",
        },
        "record": {
            "type": "boolean",
            "default": True,
            "description": "Allow recording on this server (classes still choose whether to "
            "record)",
        },
        "autoStartRecording": {"type": "boolean", "default": False},
        "allowStartStopRecording": {"type": "boolean", "default": True},
        "muteOnStart": {"type": "boolean", "default": False},
        "webcamsOnlyForModerator": {"type": "boolean"},
        "lockSettingsDisableCam": {"type": "boolean"},
        "lockSettingsDisableMic": {"type": "boolean"},
        "lockSettingsDisablePrivateChat": {"type": "boolean"},
        "lockSettingsDisablePublicChat": {"type": "boolean"},
        "lockSettingsDisableNote": {"type": "boolean"},
        "lockSettingsHideUserList": {"type": "boolean"},
        "lockSettingsLockOnJoin": {"type": "boolean"},
        "endWhenNoModerator": {"type": "boolean"},
        "guestPolicy": {
            "type": "string",
            "enum": ["ALWAYS_ACCEPT", "ALWAYS_DENY", "ASK_MODERATOR"],
        },
        "waiting_room": {
            "type": "string",
            "enum": ["portal", "bbb"],
            "default": "portal",
            "description": "where a class's waiting room holds students and guests: portal (the "
            "portal's lobby, before BBB) or bbb (BBB's own guest lobby: such classes are "
            "created with guestPolicy ASK_MODERATOR, students and guests join as BBB guests "
            "and the teacher admits them in BBB)",
        },
        "meetingLayout": {
            "type": "string",
            "enum": [
                "CUSTOM_LAYOUT",
                "SMART_LAYOUT",
                "PRESENTATION_FOCUS",
                "VIDEO_FOCUS",
                "CAMERAS_ONLY",
                "PARTICIPANTS_CHAT_ONLY",
                "PRESENTATION_ONLY",
            ],
        },
        "welcome": {"type": "string", "maxLength": 5000},
        "maxParticipants": {"type": "integer", "minimum": 0},
        "duration": {"type": "integer", "minimum": 0, "description": "minutes; 0 = no limit"},
        "logoutURL": {
            "type": "string",
            "pattern": "^https?://",
            "description": "where BBB sends people who leave; defaults to the class page",
        },
        "extra_create_params": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "other create parameters, sent as given",
        },
        "open_in_new_tab": {"type": "boolean", "default": False},
    },
    "additionalProperties": False,
}


def client_for(settings: Mapping[str, Any]) -> BBBClient:
    return BBBClient(
        settings["url"],
        settings["secret"],
        algorithm=settings.get("checksum_algorithm") or "sha256",
        timeout=float(settings.get("timeout_seconds") or 10),
    )


def end_callback_token(secret: str, meeting_id: str) -> str:
    """BBB's end callback is an unsigned GET; this token in its URL proves it came from our
    create."""
    return hmac.new(secret.encode(), f"end:{meeting_id}".encode(), hashlib.sha256).hexdigest()[:32]


def _fetchable_by_bbb(url: str | None) -> TypeGuard[str]:
    """BBB only downloads presentations over https from hosts that are not loopback."""
    if not url:
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified)


def presentation_xml(
    slides: list[SlideRef], limit: int = INLINE_LIMIT_BYTES
) -> tuple[bytes | None, dict[str, Any]]:
    """The <modules> body preloading the class's slides, and what was done with each."""
    documents: list[str] = []
    report: dict[str, Any] = {"by_url": [], "inline": [], "skipped": []}
    size = 100  # the envelope
    for slide in slides:
        if _fetchable_by_bbb(slide.url):
            doc = f"<document url={quoteattr(slide.url)} filename={quoteattr(slide.filename)}/>"
            report["by_url"].append(slide.filename)
        else:
            # base64 grows 4/3; skip what cannot fit instead of failing the whole start.
            if size + (slide.size_bytes * 4) // 3 + 200 > limit:
                report["skipped"].append(slide.filename)
                continue
            data = base64.b64encode(slide.read()).decode("ascii")
            doc = f"<document name={quoteattr(slide.filename)}>{escape(data)}</document>"
            if size + len(doc) > limit:
                report["skipped"].append(slide.filename)
                continue
            report["inline"].append(slide.filename)
        size += len(doc)
        documents.append(doc)
    if report["skipped"]:
        log.warning("slides too large to send inline to BBB were skipped: %s", report["skipped"])
    if not documents:
        return None, report
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><modules><module name="presentation">'
        + "".join(documents)
        + "</module></modules>"
    )
    return body.encode("utf-8"), report


def _portal_version() -> str:
    try:
        return importlib.metadata.version("classroom-portal")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _meeting_name(title: str) -> str:
    # BBB 2.4+ wants 2..64 characters.
    name = " ".join(title.split())[:64]
    return name if len(name) >= 2 else (name + " class")[:64]


def recording_info(rec: Recording) -> RecordingInfo:
    preferred = ("presentation", "video", "screenshare", "podcast")
    formats = sorted(
        rec.formats,
        key=lambda f: preferred.index(f.type) if f.type in preferred else len(preferred),
    )
    fmt = formats[0] if formats else None
    duration = None
    if rec.start_time_ms and rec.end_time_ms >= rec.start_time_ms:
        duration = (rec.end_time_ms - rec.start_time_ms) // 1000
    elif fmt is not None and fmt.length_minutes:
        duration = fmt.length_minutes * 60
    return RecordingInfo(
        record_id=rec.record_id,
        title=rec.metadata.get("meetingName") or rec.name or "Recording",
        recorded_at=datetime.fromtimestamp(rec.start_time_ms / 1000, UTC)
        if rec.start_time_ms
        else None,
        duration_seconds=duration,
        playback_url=fmt.url if fmt else None,
        format=fmt.type if fmt else None,
        published=rec.published,
        preview_images=list(fmt.preview_images) if fmt else [],
    )


def _room_restrictions(spec: MeetingSpec) -> dict[str, bool]:
    """The class's room settings as BBB create parameters (names from the BBB API docs).
    A setting the class turns on is sent; one it leaves off keeps the server's default (the
    administrator's BBB settings), so a class can add restrictions, never lift them.
    Lock settings bind viewers only: the teacher (moderator) keeps camera and chat."""
    room = spec.room
    return {
        "muteOnStart": room.mute_on_entry,
        "lockSettingsDisableCam": room.cameras_teachers_only,
        "lockSettingsDisablePublicChat": not room.chat,
        "lockSettingsDisablePrivateChat": not room.private_chat,
        # BBB applies lock settings to those who join after create only with this on.
        "lockSettingsLockOnJoin": room.cameras_teachers_only
        or not room.chat
        or not room.private_chat,
    }


def holds_waiting_room(settings: Mapping[str, Any], spec: MeetingSpec) -> bool:
    """BBB's guest lobby holds this class's waiting room: the admin chose it for this server
    (waiting_room "bbb") and the class has its waiting room on."""
    return spec.waiting_room and settings.get("waiting_room") == "bbb"


class BBBBackend:
    name = NAME
    label = "BigBlueButton"
    capabilities = Capabilities(
        recording=True,
        slides=True,
        breakout=True,
        lobby=True,
        end=True,
        attendance=True,
        embed=False,
        presentation=True,
        # Screen sharing in BBB belongs to the presenter, whatever the class says: not listed.
        room_settings=("mute_on_entry", "cameras_teachers_only", "chat", "private_chat"),
    )
    settings_schema = SETTINGS_SCHEMA

    # Create / join / end

    def create_params(
        self, settings: Mapping[str, Any], spec: MeetingSpec
    ) -> list[tuple[str, Any]]:
        base = (spec.callback_urls.get("base") or "").rstrip("/")
        record = bool(spec.record and settings.get("record", True))
        params: list[tuple[str, Any]] = [
            ("meetingID", spec.meeting_key),
            ("name", _meeting_name(spec.title)),
            ("record", record),
        ]
        restricted = _room_restrictions(spec)
        for key in BOOL_CREATE_PARAMS:
            value = True if restricted.get(key) else settings.get(key)
            if value is not None:
                if key in ("autoStartRecording", "allowStartStopRecording") and not record:
                    continue
                params.append((key, bool(value)))
        for key in ("guestPolicy", "meetingLayout", "welcome", "maxParticipants", "duration"):
            if key == "guestPolicy" and holds_waiting_room(settings, spec):
                params.append((key, "ASK_MODERATOR"))
            elif settings.get(key) not in (None, ""):
                params.append((key, settings[key]))
        params.append(("logoutURL", settings.get("logoutURL") or spec.portal_url or None))
        for key, value in (settings.get("extra_create_params") or {}).items():
            if key not in RESERVED_PARAMS and not key.startswith("meta_"):
                params.append((key, value))
        host = urlsplit(base).hostname or ""
        # The metadata Greenlight and Moodle send: BBB shows it in recordings, Scalelite and
        # bbblb use the size hint to place the meeting on a server with room for the class.
        params += [
            ("meta_bbb-origin", ORIGIN),
            ("meta_bbb-origin-version", _portal_version()),
            ("meta_bbb-origin-server-name", host),
            ("meta_bbb-origin-server-common-name", spec.site_name or host),
            ("meta_bbb-context-id", spec.class_id),
            ("meta_bbb-context-name", spec.title),
            ("meta_bbb-recording-name", spec.title),
            ("meta_bbb-recording-description", spec.description),
            ("meta_bbb-recording-tags", ""),  # classes have no tags; Greenlight sends it empty too
            ("meta_bbb-meeting-size-hint", spec.expected_participants or None),
            ("meta_portal-class-id", spec.class_id),
            ("meta_portal-schedule-id", spec.schedule_id),
            ("meta_portal-url", spec.portal_url or None),
        ]
        if base:
            token = end_callback_token(settings["secret"], spec.meeting_key)
            params.append(
                (
                    "meta_endCallbackUrl",
                    f"{base}/plugins/bbb/end?meetingID={quote(spec.meeting_key, safe='')}"
                    f"&token={token}",
                )
            )
            params.append(("meta_bbb-recording-ready-url", f"{base}/plugins/bbb/recording-ready"))
            if settings.get("learning_analytics", True):
                # BBB posts the meeting's exact join/leave times there when it ends; it only has
                # them when it keeps the meeting's events (always for recorded meetings).
                params.append(("meetingKeepEvents", True))
                params.append(("meta_analytics-callback-url", f"{base}/plugins/bbb/analytics"))
        return params

    def create_meeting(self, settings: Mapping[str, Any], spec: MeetingSpec) -> MeetingHandle:
        client = client_for(settings)
        body, slides = presentation_xml(list(spec.slides)) if spec.slides else (None, None)
        root = client.create(self.create_params(settings, spec), body)
        if root.findtext("hasBeenForciblyEnded", "").strip() == "true":
            # Older bbb-web answers a create for an ended meeting that is still in memory with
            # that ended meeting; nobody could join it. It is forgotten within a minute or two.
            raise BackendError(
                gettext(
                    "the previous session of this class is still closing on the meeting server; "
                    "try again in a minute"
                ),
                code="bbb_meeting_closing",
                retryable=True,
            )
        # duplicateWarning is SUCCESS: the meeting already existed (a retried or repeated create).
        data: dict[str, Any] = {
            "createTime": root.findtext("createTime", "").strip(),
            "internalMeetingID": root.findtext("internalMeetingID", "").strip(),
            "duplicate": root.findtext("messageKey", "").strip() == "duplicateWarning",
            "url": client.base,
        }
        if slides is not None:
            data["slides"] = slides
        if holds_waiting_room(settings, spec):
            data[HOLDS_WAITING_ROOM] = True
        return MeetingHandle(backend=self.name, meeting_id=spec.meeting_key, data=data)

    def join(
        self, settings: Mapping[str, Any], handle: MeetingHandle, participant: Participant
    ) -> JoinTarget:
        params: list[tuple[str, Any]] = [
            ("fullName", participant.name or f"User {participant.user_id}"),
            ("meetingID", handle.meeting_id),
            ("role", "MODERATOR" if participant.role == "moderator" else "VIEWER"),
            ("userID", participant.user_id),
            # BBB refuses a join whose createTime is not the running session's: old links die.
            ("createTime", handle.data.get("createTime") or None),
            ("avatarURL", participant.avatar_url or None),
            ("redirect", True),
        ]
        held = handle.holds_waiting_room and participant.role != "moderator"
        if participant.guest or held:
            # BBB's own guest handling: the meeting's guestPolicy decides. With the class's
            # waiting room held by BBB (ASK_MODERATOR) students join as guests too, so BBB
            # holds them until the teacher admits them; otherwise the portal's lobby already
            # made the guest wait for a teacher.
            params.append(("guest", True))
        if participant.viewer_only:
            # A "viewer only" invite: listen only, no webcam (BBB's join userdata).
            params.append(("userdata-bbb_force_listen_only", True))
            params.append(("userdata-bbb_auto_share_webcam", False))
            params.append(("userdata-bbb_skip_video_preview", True))
        url = client_for(settings).join_url(params)
        return JoinTarget(kind="redirect", url=url, new_tab=bool(settings.get("open_in_new_tab")))

    def end_meeting(self, settings: Mapping[str, Any], handle: MeetingHandle) -> None:
        try:
            client_for(settings).end(handle.meeting_id)
        except BBBError as exc:
            # Already gone on the server (expired, ended there): the portal may still end it.
            if exc.message_key not in GONE_KEYS:
                raise

    def status(self, settings: Mapping[str, Any], handle: MeetingHandle) -> MeetingStatus:
        try:
            info = client_for(settings).get_meeting_info(handle.meeting_id)
        except BBBError as exc:
            if exc.message_key in GONE_KEYS:
                return MeetingStatus(running=False, ended=True)
            raise
        stale = bool(handle.data.get("createTime")) and info.create_time not in (
            "",
            handle.data.get("createTime"),
        )
        ended = info.ended or stale
        attendees = [
            AttendeeInfo(
                name=a.full_name,
                user_id=int(a.user_id) if a.user_id.isdigit() else None,
                role=a.role.lower() or None,
            )
            for a in info.attendees
        ]
        return MeetingStatus(
            running=not ended,
            participant_count=info.participant_count,
            attendees=[] if ended else attendees,
            ended=ended,
        )

    # Recordings

    def list_recordings(
        self, settings: Mapping[str, Any], handle: MeetingHandle
    ) -> list[RecordingInfo]:
        return [
            recording_info(r)
            for r in client_for(settings).get_recordings(meeting_ids=[handle.meeting_id])
        ]

    def publish_recording(
        self, settings: Mapping[str, Any], record_id: str, published: bool
    ) -> None:
        client_for(settings).publish_recordings([record_id], published)

    def delete_recording(self, settings: Mapping[str, Any], record_id: str) -> None:
        try:
            client_for(settings).delete_recordings([record_id])
        except BBBError as exc:
            # Deleting what is already gone is done (e.g. a retried delete).
            if exc.message_key not in ("notFound", "noRecordings"):
                raise

    # Health

    def check_health(self, settings: Mapping[str, Any]) -> HealthResult:
        started = time.perf_counter()
        client = client_for(settings)
        try:
            version = client.version()
        except BBBUnavailable as exc:
            return HealthResult(ok=False, message=_unavailable_message(client, exc))
        except BBBError as exc:
            return HealthResult(
                ok=False,
                message=gettext(
                    "not a usable BigBlueButton API at %(url)s: %(reason)s",
                    url=client.base,
                    reason=exc.user_message,
                ),
            )
        label = version.get("bbbVersion") or version.get("apiVersion") or None
        # The version call is unsigned; a signed call proves the secret and the algorithm.
        refused = _prove_secret(client)
        if isinstance(refused, BBBError):
            message = (
                _checksum_refused(client)
                if refused.message_key == "checksumError"
                else refused.user_message
            )
            return HealthResult(ok=False, version=label, message=message)
        if isinstance(refused, BBBUnavailable):
            return HealthResult(
                ok=False, version=label, message=_unavailable_message(client, refused)
            )
        latency = round((time.perf_counter() - started) * 1000, 1)
        return HealthResult(
            ok=True,
            version=label,
            latency_ms=latency,
            message=gettext(
                "BigBlueButton %(version)s answers; the shared secret and %(algorithm)s "
                "checksums are accepted",
                version=label or "?",
                algorithm=client.algorithm,
            ),
        )


def _unavailable_message(client: BBBClient, exc: BBBUnavailable) -> str:
    if exc.code == "bbb_not_bbb":
        return gettext(
            "not a BigBlueButton API at %(url)s: %(reason)s",
            url=client.base,
            reason=exc.user_message,
        )
    if exc.code == "bbb_http_error":
        # Something answered: the server or a proxy in front of it is up but failing.
        return gettext(
            "BigBlueButton at %(url)s: %(reason)s", url=client.base, reason=exc.user_message
        )
    return gettext(
        "BigBlueButton unreachable at %(url)s: %(reason)s", url=client.base, reason=exc.user_message
    )


def _prove_secret(client: BBBClient) -> BBBError | BBBUnavailable | None:
    """None when the server accepts our checksum, else what went wrong.

    getMeetingInfo on an id nobody uses is answered by every BBB-API server (BBB, Scalelite,
    bbblb; getMeetings is not: bbblb answers 500): `notFound` means the checksum was accepted,
    `checksumError` that the secret or the algorithm is wrong. Nothing is created or changed.
    """
    try:
        client.get_meeting_info(f"portal-health-check-{secrets.token_hex(8)}")
    except BBBError as exc:
        return None if exc.message_key in GONE_KEYS else exc
    except BBBUnavailable as exc:
        return exc
    return None


def _checksum_refused(client: BBBClient) -> str:
    """Tell a wrong secret from an algorithm the server refuses (some BBB-API servers take
    only sha1 and sha256): the same secret signing with sha256 tells them apart."""
    if client.algorithm != "sha256" and _prove_secret(client.with_algorithm("sha256")) is None:
        return gettext(
            "the server does not accept %(algorithm)s checksums (checksumError with "
            "%(algorithm)s, accepted with sha256): choose sha256 as the checksum algorithm",
            algorithm=client.algorithm,
        )
    return gettext(
        "wrong shared secret (checksumError): the server rejected our checksum; check the secret "
        "and that it accepts %(algorithm)s",
        algorithm=client.algorithm,
    )


BACKEND = BBBBackend()
