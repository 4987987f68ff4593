"""Routes BigBlueButton calls back: meeting ended (GET), recording ready (POST, signed JWT) and
learning analytics at meeting end (POST JSON, Bearer JWT)."""

from __future__ import annotations

import hmac
import logging
import warnings
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Blueprint, jsonify, request

from portal.plugins import (
    MeetingRecord,
    NotAuthenticated,
    NotFound,
    PortalError,
    ServiceUnavailable,
    ValidationFailed,
    Visit,
    services,
)
from portal.plugins.i18n import gettext

from .backend import NAME, client_for, end_callback_token, recording_info
from .client import BBBError, BBBUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("bbb_backend", __name__, url_prefix="/plugins/bbb")


class Gone(PortalError):
    """BBB's protocol: 410 tells the recording system the meeting is gone for the portal."""

    status = 410
    code = "gone"


def _meeting(meeting_id: str | None) -> MeetingRecord | None:
    if not meeting_id:
        return None
    return services.find_meeting(NAME, meeting_id)


@bp.get("/end")
def meeting_ended():
    """BBB's meta_endCallbackUrl: GET ...?meetingID=..&token=..&recordingmarks=true|false."""
    meeting_id = request.args.get("meetingID", "")
    token = request.args.get("token", "")
    # Like the signed callbacks: the token first, so a forged call learns nothing of the meeting.
    signers = {
        config_id
        for config_id, settings in services.backend_settings(NAME)
        if hmac.compare_digest(token, end_callback_token(settings["secret"], meeting_id))
    }
    if not signers:
        raise NotAuthenticated("invalid end callback token", code="bad_callback_token")
    meeting = _meeting(meeting_id)
    if meeting is None:
        raise NotFound("no such meeting")
    if meeting.backend_config_id not in signers:
        raise NotAuthenticated("invalid end callback token", code="bad_callback_token")
    settings = services.meeting_settings(meeting.id)
    if meeting.ended:
        return jsonify(ended=True, changed=False)
    # The meetingID is reused when a class is restarted; a late callback of the previous
    # session must not end the new one. Ask the server; trust the signed callback if it is down.
    try:
        info = client_for(settings).get_meeting_info(meeting_id)
        if (
            not info.ended
            and info.create_time
            and info.create_time == meeting.data.get("createTime")
        ):
            log.info("ignoring stale end callback for %s", meeting_id)
            return jsonify(ended=False, changed=False)
    except BBBError:
        pass  # notFound: the meeting is gone, which is what the callback says
    except BBBUnavailable:
        log.warning("end callback for %s: server unreachable, trusting the callback", meeting_id)
    changed = services.mark_meeting_ended(meeting.id)
    return jsonify(ended=True, changed=changed)


def _signers(
    token: str, algorithms: list[str], *, require: tuple[str, ...] = ()
) -> tuple[set[int], dict[str, Any]]:
    """The BBB configurations whose shared secret signed `token`, and its claims.

    The signature is checked before any meeting is looked up, so a forged callback learns
    nothing (401 whatever the meeting); the caller then requires the meeting's own
    configuration to be among the signers.
    """
    signers: set[int] = set()
    claims: dict[str, Any] = {}
    for config_id, settings in services.backend_settings(NAME):
        try:
            with warnings.catch_warnings():
                # BBB signs with HS512 using its secret as it is (bbb-conf makes 40-character
                # ones); its length is the server's choice, not a defect of this request.
                warnings.filterwarnings("ignore", message="The HMAC key is")  # PyJWT >= 2.10
                claims = jwt.decode(
                    token,
                    settings["secret"],
                    algorithms=algorithms,
                    options={"require": list(require)},
                )
        except jwt.InvalidSignatureError:
            continue  # another configuration's secret
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(
                gettext("the token is not valid: %(reason)s", reason=exc), code="bad_signature"
            ) from exc
        signers.add(config_id)
    if not signers:
        raise NotAuthenticated(
            "the signature does not verify with the shared secret", code="bad_signature"
        )
    return signers, claims


def _signed_meeting(meeting_id: str, signers: set[int]) -> MeetingRecord:
    meeting = _meeting(meeting_id)
    if meeting is None:
        raise Gone("this meeting is unknown to the portal")
    if meeting.backend_config_id not in signers:
        # Signed by another BBB configuration than the one that runs this meeting.
        raise NotAuthenticated(
            "the signature does not verify with this meeting's shared secret", code="bad_signature"
        )
    return meeting


@bp.post("/recording-ready")
def recording_ready():
    """BBB's meta_bbb-recording-ready-url: form field signed_parameters, an HS256 JWT signed
    with the shared secret, payload {meeting_id, record_id}. May arrive more than once."""
    token = request.form.get("signed_parameters", "")
    if not token:
        raise ValidationFailed("signed_parameters is missing")
    signers, claims = _signers(token, ["HS256"])
    meeting = _signed_meeting(str(claims.get("meeting_id") or ""), signers)
    settings = services.meeting_settings(meeting.id)
    record_id = str(claims.get("record_id") or "")
    if not record_id:
        raise ValidationFailed("record_id is missing")
    try:
        recordings = client_for(settings).get_recordings(record_ids=[record_id])
    except (BBBError, BBBUnavailable) as exc:
        # Any non-2xx except 401/410 makes BBB retry later: what we want while it is down.
        raise ServiceUnavailable(
            gettext("cannot fetch the recording: %(reason)s", reason=exc.user_message),
            code="bbb_unavailable",
        ) from exc
    created = stored = 0
    for rec in recordings:
        if rec.record_id != record_id or (
            rec.meeting_id and rec.meeting_id != meeting.backend_meeting_id
        ):
            continue
        _, was_created = services.register_recording(meeting.id, recording_info(rec))
        stored += 1
        created += int(was_created)
    return jsonify(stored=stored, created=created), 200


def _instant(value: Any) -> datetime | None:
    """A time in BBB's analytics data: ISO 8601 (as bbbevents writes it), or epoch s / ms."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:  # Ruby's Time#to_s: 2026-12-01 10:00:00 +0000
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _visits(attendees: list[Any]) -> list[Visit]:
    """First join and last leave of each attendee that has a join time."""
    visits = []
    for attendee in attendees:
        if not isinstance(attendee, dict):
            raise ValidationFailed("data.attendees must be a list of objects")
        joins = [t for t in map(_instant, attendee.get("joins") or []) if t is not None]
        leaves = [t for t in map(_instant, attendee.get("leaves") or []) if t is not None]
        if not joins:
            continue
        ext_user_id = str(attendee.get("ext_user_id") or "")
        name = str(attendee.get("name") or "").strip() or "Guest"
        visits.append(
            Visit(
                int(ext_user_id) if ext_user_id.isdigit() else None,
                name,
                min(joins),
                max(leaves) if leaves else None,
            )
        )
    return visits


@bp.post("/analytics")
def learning_analytics():
    """BBB's meta_analytics-callback-url, sent once the meeting ended and its events were
    processed: a JSON body {version, meeting_id, internal_meeting_id, data: {attendees: [
    {ext_user_id, name, moderator, joins: [..], leaves: [..], ...}]}} with
    `Authorization: Bearer <JWT>`, an HS512 token ({exp}) signed with the shared secret (Scalelite
    forwards it signed with its own secret). It gives exact join and leave times, so visits
    shorter than the periodic sampling still count. Repeating it changes nothing."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(
            "a Bearer token signed with the shared secret is required", code="bad_signature"
        )
    signers, _ = _signers(token.strip(), ["HS256", "HS384", "HS512"], require=("exp",))
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("meeting_id"), str):
        raise ValidationFailed("the body must be BBB's analytics JSON with meeting_id")
    attendees = (
        (body.get("data") or {}).get("attendees") if isinstance(body.get("data"), dict) else None
    )
    if not isinstance(attendees, list):
        raise ValidationFailed("data.attendees is missing")
    visits = _visits(attendees)
    meeting = _signed_meeting(body["meeting_id"], signers)
    services.record_visits(meeting.id, visits, source="bbb")
    return jsonify(attendees=len(visits)), 200
