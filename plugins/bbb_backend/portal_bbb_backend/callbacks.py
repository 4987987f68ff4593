"""Routes BigBlueButton calls back: meeting ended (GET) and recording ready (POST, signed JWT)."""

from __future__ import annotations

import hmac
import logging

import jwt
from flask import Blueprint, jsonify, request

from portal.core import meetings
from portal.core.errors import (
    NotAuthenticated,
    NotFound,
    PortalError,
    ServiceUnavailable,
    ValidationFailed,
)
from portal.core.models import Meeting
from portal.core.models import MeetingStatus as MeetingState
from portal.extensions import db

from .backend import NAME, client_for, end_callback_token, recording_info
from .client import BBBError, BBBUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("bbb_backend", __name__, url_prefix="/plugins/bbb")


class Gone(PortalError):
    """BBB's protocol: 410 tells the recording system the meeting is gone for the portal."""

    status = 410
    code = "gone"


def _meeting(meeting_id: str | None) -> Meeting | None:
    if not meeting_id:
        return None
    return meetings.find_meeting(NAME, meeting_id)


@bp.get("/end")
def meeting_ended():
    """BBB's meta_endCallbackUrl: GET ...?meetingID=..&token=..&recordingmarks=true|false."""
    meeting_id = request.args.get("meetingID", "")
    meeting = _meeting(meeting_id)
    if meeting is None:
        raise NotFound("no such meeting")
    settings = meetings.settings_for_meeting(meeting)
    expected = end_callback_token(settings["secret"], meeting_id)
    if not hmac.compare_digest(request.args.get("token", ""), expected):
        raise NotAuthenticated("invalid end callback token", code="bad_callback_token")
    if meeting.status == MeetingState.ENDED.value:
        return jsonify(ended=True, changed=False)
    # The meetingID is reused when a class is restarted; a late callback of the previous
    # session must not end the new one. Ask the server; trust the signed callback if it is down.
    try:
        info = client_for(settings).get_meeting_info(meeting_id)
        if not info.ended and info.create_time and info.create_time == (meeting.data or {}).get("createTime"):
            log.info("ignoring stale end callback for %s", meeting_id)
            return jsonify(ended=False, changed=False)
    except BBBError:
        pass  # notFound: the meeting is gone, which is what the callback says
    except BBBUnavailable:
        log.warning("end callback for %s: server unreachable, trusting the callback", meeting_id)
    changed = meetings.mark_meeting_ended(meeting)
    return jsonify(ended=True, changed=changed)


@bp.post("/recording-ready")
def recording_ready():
    """BBB's meta_bbb-recording-ready-url: form field signed_parameters, an HS256 JWT signed
    with the shared secret, payload {meeting_id, record_id}. May arrive more than once."""
    token = request.form.get("signed_parameters", "")
    if not token:
        raise ValidationFailed("signed_parameters is missing")
    try:
        # Only to find whose secret to verify with; nothing is trusted before verification.
        claims = jwt.decode(token, options={"verify_signature": False}, algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("signed_parameters is not a valid token", code="bad_signature") from exc
    meeting = _meeting(str(claims.get("meeting_id") or ""))
    if meeting is None:
        raise Gone("this meeting is unknown to the portal")
    settings = meetings.settings_for_meeting(meeting)
    try:
        claims = jwt.decode(token, settings["secret"], algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("signed_parameters signature does not verify", code="bad_signature") from exc
    record_id = str(claims.get("record_id") or "")
    if not record_id:
        raise ValidationFailed("record_id is missing")
    try:
        recordings = client_for(settings).get_recordings(record_ids=[record_id])
    except (BBBError, BBBUnavailable) as exc:
        # Any non-2xx except 401/410 makes BBB retry later: what we want while it is down.
        raise ServiceUnavailable(f"cannot fetch the recording: {exc.user_message}", code="bbb_unavailable") from exc
    created = stored = 0
    for rec in recordings:
        if rec.record_id != record_id or (rec.meeting_id and rec.meeting_id != meeting.backend_meeting_id):
            continue
        _, was_created = meetings.store_recording(meeting, recording_info(rec))
        stored += 1
        created += int(was_created)
    db.session.commit()
    return jsonify(stored=stored, created=created), 200
