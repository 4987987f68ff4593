"""WHIP (RFC 9725) and WHEP signalling under /sfu, authorised by the portal's JWT.

- POST   /sfu/rooms/<room>/whip       application/sdp offer -> 201 answer, Location, ETag
- POST   /sfu/rooms/<room>/whep       (optional ?publisher=<id>) same, to watch one stream
- DELETE /sfu/rooms/<room>/sessions/<id>   ends the session (200)
- PATCH  /sfu/rooms/<room>/sessions/<id>   501: no trickle ICE / ICE restart (gather first)
- OPTIONS on the endpoints -> 204 with Accept-Post: application/sdp (+ ICE servers as Link)
- CORS for the origins in the backend's `cors_origins` setting (none by default)
- GET    /sfu/rooms/<room>/publishers  the streams a member can watch
- POST   /sfu/rooms/<room>/publishers/allow  {user_id, allowed}: the teacher grants/withdraws
                                         a student's floor
- GET    /sfu/rooms/<room>             a minimal class room page (cookie login) using sfu-client.js
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from flask_jwt_extended.exceptions import (
    JWTExtendedException,
    NoAuthorizationError,
    RevokedTokenError,
)
from jwt import ExpiredSignatureError, PyJWTError

from portal.plugins import (
    BackendUnavailable,
    Conflict,
    FloorGrant,
    Forbidden,
    MeetingRecord,
    NotAuthenticated,
    NotFound,
    PortalError,
    ValidationFailed,
    services,
)
from portal.plugins.floor import grant, grant_of, withdraw
from portal.plugins.i18n import domain
from portal_native_sfu.backend import (
    NAME,
    ice_servers,
    pool,
    room_limits,
    room_restrictions,
    server_ice_servers,
)
from portal_native_sfu.channel import WorkerError
from portal_native_sfu.plugin import STATE, queue_assembly

# The plugin's own catalogue (the package's `translations`; a name mypy reads as the folder).
translations = domain("portal_native_sfu")

log = logging.getLogger(__name__)

bp = Blueprint(
    "native_sfu",
    __name__,
    url_prefix="/sfu",
    static_folder="static",
    static_url_path="/static",
    template_folder="templates",
)

MAX_SDP_BYTES = 64 * 1024
SDP = "application/sdp"

# Worker refusal -> HTTP status. RFC 9725 asks for a 4xx on an offer the endpoint cannot
# use: 400 for a malformed one, 406 for a well-formed one it will not accept (too many
# tracks, no common codec); 409 when the room's state forbids it right now.
STATUS_FOR = {
    "bad_sdp": 400,
    "too_many_tracks": 406,
    "no_matching_tracks": 406,
    "no_publisher": 409,
    "room_closed": 409,
    "too_many_publishers": 409,
    "too_many_sessions": 429,
    "no_session": 404,
    "no_room": 404,
}


class SdpTooLarge(PortalError):
    status = 413
    code = "sdp_too_large"


def _plain_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    # WHIP clients (OBS, GStreamer) show the body as text; browsers read the JSON.
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    if status == 401:
        # RFC 6750 3: a bearer-protected resource names its scheme; a bad token says so.
        challenge = 'Bearer realm="portal"'
        if code != "not_authenticated":
            challenge += f', error="invalid_token", error_description="{message}"'
        response.headers["WWW-Authenticate"] = challenge
    return response


@bp.errorhandler(PortalError)
def portal_error(exc: PortalError) -> Response:
    return _plain_error(exc.status, exc.code, exc.shown)


# The app's JWT handlers answer HTML to clients that accept it (OBS, GStreamer, curl send
# */*); WHIP/WHEP clients get JSON and a Bearer challenge instead.
_TOKEN_ERRORS: list[tuple[type[Exception], str, str]] = [
    (
        NoAuthorizationError,
        "not_authenticated",
        "send the portal token as Authorization: Bearer <token>",
    ),
    (ExpiredSignatureError, "token_expired", "your session has expired; join the class again"),
    (RevokedTokenError, "token_revoked", "you have signed out; sign in again"),
]


def _token_error(exc: Exception) -> NotAuthenticated:
    for kind, code, message in _TOKEN_ERRORS:
        if isinstance(exc, kind):
            return NotAuthenticated(message, code=code)
    return NotAuthenticated(
        "the token is invalid or the account is disabled; sign in again", code="invalid_token"
    )


@bp.errorhandler(BackendUnavailable)
def unavailable(exc: BackendUnavailable) -> Response:
    return _plain_error(503, exc.code, exc.user_message, {"Retry-After": "5"})


# Cross-origin pages (RFC 9725 4.1 expects CORS): only origins the admin listed.
CORS_METHODS = {
    "native_sfu.whip": "OPTIONS, POST",
    "native_sfu.whep": "OPTIONS, POST",
    "native_sfu.session": "OPTIONS, DELETE, PATCH",
    "native_sfu.publishers": "OPTIONS, GET",
}
CORS_EXPOSED = "Location, ETag, Link, Accept-Post, Allow, Retry-After, WWW-Authenticate"


def _cors_origins(room: str | None) -> list[str]:
    meeting = services.find_meeting(NAME, room) if room else None
    if meeting is None:
        return []
    return list(services.meeting_settings(meeting.id).get("cors_origins") or [])


@bp.after_request
def cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    methods = CORS_METHODS.get(request.endpoint or "")
    if not origin or methods is None:
        return response
    response.vary.add("Origin")
    if origin not in _cors_origins((request.view_args or {}).get("room")):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@dataclass(frozen=True)
class _GuestViewer:
    """An admitted guest holding a room credential: watches one occurrence, never publishes."""

    id: int
    name: str
    schedule_id: int
    class_id: int


def _bearer_user() -> Any:
    """The signed-in account (the JWT's user), or an admitted guest (their room credential);
    only `id` and `name` are read here, and `_GuestViewer` marks the guest."""
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
    guest = services.guest_in_room(bearer)
    if guest is not None:
        return _GuestViewer(guest.participant_id, guest.name, guest.schedule_id, guest.class_id)
    try:
        if request.method == "OPTIONS":
            # flask-jwt-extended skips every check on OPTIONS; run the same checks as for
            # a GET (signature, expiry, revocation, account) in a request of that method.
            with current_app.test_request_context(
                request.path,
                method="GET",
                headers={"Authorization": request.headers.get("Authorization", "")},
            ):
                verify_jwt_in_request(locations=["headers"])
                user = get_current_user()
        else:
            verify_jwt_in_request(locations=["headers"])
            user = get_current_user()
    except (JWTExtendedException, PyJWTError) as exc:
        raise _token_error(exc) from None
    if user is None:
        raise NotAuthenticated("sign in first")
    return user


def _may_enter(user: Any, meeting: MeetingRecord) -> bool:
    if isinstance(user, _GuestViewer):  # a guest's credential opens its one occurrence only
        return meeting.schedule_id == user.schedule_id
    return services.is_member(user.id, meeting.class_id)


def _meeting(user: Any, room: str) -> MeetingRecord:
    meeting = services.find_meeting(NAME, room)
    if meeting is None or not _may_enter(user, meeting):
        raise NotFound("no such class room")
    if meeting.status != "running":
        raise Conflict("this class is not running", code="not_running")
    return meeting


def _floor(user: Any, meeting: MeetingRecord) -> FloorGrant:
    """What the user may send: the teacher everything; a student what the core's floor grants;
    a guest nothing (a viewer session, whatever the floor says)."""
    if isinstance(user, _GuestViewer):
        return FloorGrant()
    if services.is_class_manager(user.id, meeting.class_id):
        return FloorGrant(mic=True, camera=True, screen=True)
    if services.is_blocked(user.id, meeting.class_id):
        return FloorGrant()
    return room_limits(meeting.data, grant_of(meeting.schedule_id, user.id))


def _offered_kinds(sdp: str) -> set[str]:
    """The media kinds an offer sends (m-lines with a non-zero port)."""
    kinds = set()
    for line in sdp.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("m=audio", "m=video") and parts[1] != "0":
            kinds.add(parts[0][2:])
    return kinds


def _require_floor(user: Any, meeting: MeetingRecord, label: str, sdp: str) -> FloorGrant:
    """Refuse (403) a publish the floor does not allow: a camera stream's audio needs the
    microphone and its video the camera; a shared screen (video and its sound) the screen."""
    floor = _floor(user, meeting)
    needs = (
        {"audio": "screen", "video": "screen"}
        if label == "screen"
        else {"audio": "mic", "video": "camera"}
    )
    missing = sorted(
        {needs[kind] for kind in _offered_kinds(sdp) if not getattr(floor, needs[kind])}
    )
    room_refused = sorted(
        {needs[kind] for kind in _offered_kinds(sdp)}
        & {k for k, v in room_restrictions(meeting.data).items() if v}
    )
    if room_refused:
        raise Forbidden(
            {
                "camera": "only teachers may turn on their camera in this class",
                "screen": "only teachers may share their screen in this class",
            }[room_refused[0]],
            code="room_setting",
        )
    if not floor.any or missing:
        refusal = (
            translations.gettext(
                "only the teacher, and students the teacher gives the floor, can publish in "
                "this class (not granted: %(kinds)s)",
                kinds=", ".join(missing),
            )
            if floor.any
            else translations.gettext(
                "only the teacher, and students the teacher gives the floor, can publish in "
                "this class"
            )
        )
        raise Forbidden(refusal, code="floor_not_granted")
    return floor


def _link_headers(settings: dict[str, Any]) -> list[str]:
    links = []
    for server in ice_servers(settings):
        link = f'<{server["urls"]}>; rel="ice-server"'
        if "username" in server:
            link += (
                f'; username="{server["username"]}"; credential="{server["credential"]}"; '
                'credential-type="password"'
            )
        links.append(link)
    return links


def _sdp_too_large() -> str:
    return translations.gettext(
        "the SDP offer is larger than %(size)s KiB", size=MAX_SDP_BYTES // 1024
    )


def _offer() -> str:
    if request.mimetype != SDP:
        raise _Unsupported()
    if (request.content_length or 0) > MAX_SDP_BYTES:
        raise SdpTooLarge(_sdp_too_large())
    body = request.get_data(as_text=True)
    if len(body.encode()) > MAX_SDP_BYTES:  # chunked bodies have no Content-Length
        raise SdpTooLarge(_sdp_too_large())
    if not body.strip():
        raise ValidationFailed("the request has no SDP offer", code="bad_sdp")
    return body


class _Unsupported(Exception):
    pass


@bp.errorhandler(_Unsupported)
def unsupported(_exc: _Unsupported) -> Response:
    return _plain_error(
        415,
        "unsupported_media_type",
        "send the offer as Content-Type: application/sdp",
        {"Accept-Post": SDP},
    )


def _call_room(meeting: MeetingRecord, method: str, params: dict[str, Any]) -> Any:
    """Call the room's worker; recreate the room once if the worker restarted and lost it."""
    room = meeting.backend_meeting_id
    try:
        return pool().call(room, method, params)
    except WorkerError as exc:
        if exc.code != "no_room":
            raise
    settings = services.meeting_settings(meeting.id)
    pool().call(
        room,
        "ensure_room",
        {
            "record": bool(meeting.data.get("record")),
            "max_publishers": settings.get("max_publishers"),
        },
    )
    return pool().call(room, method, params)


def _negotiate(room: str, method: str, extra: dict[str, Any]) -> Response:
    user = _bearer_user()
    meeting = _meeting(user, room)
    if method != "publish" and not isinstance(user, _GuestViewer):
        services.require_not_blocked(user.id, meeting.class_id)
    sdp = _offer()
    if method == "publish":
        extra = {
            **extra,
            "mic_muted": _require_floor(user, meeting, extra.get("label", ""), sdp).mic_muted,
        }
    settings = services.meeting_settings(meeting.id)
    # The server gathers with its own ICE servers (none by default), never the clients'.
    params = {
        "sdp": sdp,
        "user_id": user.id,
        "name": user.name,
        "ice_servers": server_ice_servers(settings),
        **extra,
    }
    try:
        result = _call_room(meeting, method, params)
    except WorkerError as exc:
        return _plain_error(STATUS_FOR.get(exc.code, 400), exc.code, exc.shown)
    if method == "publish" and not services.is_class_manager(user.id, meeting.class_id):
        # The floor may have been withdrawn while the offer was negotiated: look again
        # (a fresh read) and close what was just opened rather than let it through.
        services.refresh_reads()
        try:
            _require_floor(user, meeting, extra.get("label", ""), sdp)
        except Forbidden:
            with contextlib.suppress(WorkerError):
                pool().call(room, "end_session", {"session": result["session"]})
            raise
    response = Response(result["sdp"], status=201, mimetype=SDP)
    response.headers["Location"] = url_for(
        "native_sfu.session", room=room, session_id=result["session"]
    )
    response.headers["ETag"] = f'"{result["etag"]}"'
    for link in _link_headers(settings):
        response.headers.add("Link", link)
    return response


def _options(room: str) -> Response:
    response = Response(status=204)
    response.headers["Accept-Post"] = SDP
    response.headers["Allow"] = "OPTIONS, POST"
    # ICE servers go only to authenticated members (RFC 9725 4.6): TURN credentials are
    # not public. A CORS preflight carries no token and gets none.
    if request.headers.get("Authorization"):
        with contextlib.suppress(PortalError):
            meeting = _meeting(_bearer_user(), room)
            for link in _link_headers(services.meeting_settings(meeting.id)):
                response.headers.add("Link", link)
    return response


@bp.route("/rooms/<room>/whip", methods=["POST", "OPTIONS"], provide_automatic_options=False)
def whip(room: str) -> Response:
    if request.method == "OPTIONS":
        return _options(room)
    label = (request.args.get("label") or "camera")[:40]
    return _negotiate(room, "publish", {"label": label})


@bp.route("/rooms/<room>/whep", methods=["POST", "OPTIONS"], provide_automatic_options=False)
def whep(room: str) -> Response:
    if request.method == "OPTIONS":
        return _options(room)
    return _negotiate(room, "subscribe", {"publisher": request.args.get("publisher") or None})


SESSION_METHODS = "OPTIONS, DELETE, PATCH"


@bp.route(
    "/rooms/<room>/sessions/<session_id>",
    methods=["DELETE", "PATCH", "OPTIONS"],
    provide_automatic_options=False,
)
def session(room: str, session_id: str) -> Response:
    if request.method == "OPTIONS":
        return Response(status=204, headers={"Allow": SESSION_METHODS})
    user = _bearer_user()
    meeting = services.find_meeting(NAME, room)
    if meeting is None or not _may_enter(user, meeting):
        raise NotFound("no such session")
    try:
        info = pool().call(room, "session", {"session": session_id})
    except WorkerError:
        raise NotFound("no such session") from None
    if request.method == "PATCH":
        # No trickle ICE and no ICE restart: clients send a complete offer (RFC 9725 4.3.1).
        return _plain_error(
            501,
            "trickle_not_supported",
            "this server supports neither trickle ICE nor ICE restarts; send a complete offer",
        )
    if info["user_id"] != user.id and not services.is_class_manager(user.id, meeting.class_id):
        raise Forbidden("this is someone else's session")
    pool().call(room, "end_session", {"session": session_id})
    return Response(status=200)


@bp.get("/rooms/<room>/publishers")
def publishers(room: str) -> Response:
    user = _bearer_user()
    meeting = _meeting(user, room)
    if not isinstance(user, _GuestViewer):
        services.require_not_blocked(user.id, meeting.class_id)
    try:
        info = _call_room(meeting, "room", {})
    except WorkerError:
        info = {"sessions": []}
    rows = [
        {
            "id": s["id"],
            "user_id": s["user_id"],
            "name": s["name"],
            "label": s["label"],
            "kinds": s["kinds"],
        }
        for s in info["sessions"]
        if s["role"] == "publish"
    ]
    floor = _floor(user, meeting)
    # `floor` lets the room page follow grants without a socket (it polls this list anyway).
    return jsonify({"publishers": rows, "can_publish": floor.any, "floor": floor.as_dict()})


@bp.post("/rooms/<room>/publishers/allow")
def allow_publisher(room: str) -> Response:
    """Kept for WHIP tools: {user_id, allowed} grants (or withdraws) the student's whole floor
    (microphone, camera, screen) through the core's floor service."""
    user = _bearer_user()
    meeting = _meeting(user, room)
    body = request.get_json(silent=True) or {}
    try:
        student_id = int(body["user_id"])
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed("user_id is required") from None
    change = grant if bool(body.get("allowed", True)) else withdraw
    seat = change(user, meeting.schedule_id, student_id, mic=True, camera=True, screen=True)
    return jsonify(
        {
            "user_id": student_id,
            "floor": {k: seat[k] for k in ("mic", "camera", "screen", "mic_muted")},
        }
    )


def _managed_meeting(user: Any, room: str) -> MeetingRecord:
    """The room's meeting, running or ended, for its class's teacher or an admin."""
    meeting = services.find_meeting(NAME, room)
    if meeting is None or not services.is_member(user.id, meeting.class_id):
        raise NotFound("no such class room")
    if not services.is_class_manager(user.id, meeting.class_id):
        raise Forbidden("only this class's teacher or an administrator can do this")
    return meeting


def _assembly_state(meeting: MeetingRecord) -> dict[str, Any]:
    state = dict(meeting.data.get(STATE) or {"state": "none", "percent": 0, "message": ""})
    state.pop("claimed_at", None)
    return state


@bp.get("/rooms/<room>/assembly")
def assembly_status(room: str) -> Response:
    """The lesson's recording assembly for the teacher: queued, assembling (percent), ready
    (recording_id) or failed (message)."""
    meeting = _managed_meeting(_bearer_user(), room)
    return jsonify(_assembly_state(services.get_meeting(meeting.id)))


@bp.post("/rooms/<room>/assembly/retry")
def assembly_retry(room: str) -> tuple[Response, int]:
    """Queue a failed assembly again (teacher); the segments were kept."""
    user = _bearer_user()
    meeting = _managed_meeting(user, room)
    if _assembly_state(meeting).get("state") != "failed":
        raise Conflict("only a failed assembly can be retried", code="not_failed")
    queue_assembly(meeting.id)
    return jsonify(_assembly_state(services.get_meeting(meeting.id))), 202


@bp.get("/rooms/<room>")
def room_page(room: str) -> Any:
    """A minimal room page for a signed-in browser (cookie); the class page embeds the same JS."""
    try:
        verify_jwt_in_request(locations=["cookies"])
        user = get_current_user()
    except Exception:
        user = None
    if user is None:
        return redirect(url_for("web.login_page", next=request.path))
    meeting = _meeting(user, room)
    target = services.join_class(user.id, meeting.schedule_id)
    return render_template(
        "native_sfu/room.html",
        embed=target.embed,
        title=meeting.class_title,
        school_name=services.config("SCHOOL_NAME", ""),
    )
