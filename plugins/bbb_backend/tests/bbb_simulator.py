"""A BigBlueButton API server for tests: real HTTP on 127.0.0.1, faithful to the published API.

- Checksums are validated like bbb-web: the raw query string as received, minus the
  checksum parameter, hashed as call + query + secret; the algorithm is picked from the
  checksum's length (40 sha1, 64 sha256, 96 sha384, 128 sha512) among `supported`.
- Responses are the documented XML (<response><returncode>...), FAILED with messageKey.
- State: meetings (createTime, attendees, metadata, preloaded presentations), recordings
  (processing -> published, publish/unpublish/delete), the end and recording-ready
  callbacks (GET with recordingmarks; POST form signed_parameters = HS256 JWT).
- Faults: `stall_seconds` (answers late), `garbage` (an HTML page), `http_status` (e.g. 503),
  `http_status_calls` ({call: status}, e.g. bbblb's 500 for getMeetings: `behave_like_bbblb()`),
  `fail_calls` ({call: messageKey}); `close()` makes the port refuse connections.
- Learning analytics: every join and leave is timed (`add_visit` adds one between two
  samples); when a meeting with `meta_analytics-callback-url` ends and its events are kept
  (recorded, or meetingKeepEvents=true) it queues bbb's post_events_analytics_callback POST:
  JSON {version, meeting_id, internal_meeting_id, data: {attendees: [{ext_user_id, name,
  moderator, joins, leaves, duration}]}} with `Authorization: Bearer` an HS512 JWT {exp}.
- Guests (BBB's guest lobby): a join with guest=true to a meeting created with
  guestPolicy=ASK_MODERATOR is held: the browser goes to /html5client/guestWait, the guest
  is not among getMeetingInfo's attendees until a moderator approves them in the client
  (`approve_guest` / `deny_guest`), and GET /bigbluebutton/api/guestWait?sessionToken= answers
  JSON {response: {returncode, guestStatus WAIT|ALLOW|DENY, url}}. ALWAYS_DENY refuses guests
  (guestDeniedAccess); ALWAYS_ACCEPT (the default) lets them in at once.
- `latency` (seconds, also the constructor's `latency=`): every API answer is delayed that long,
  like a server across a network; the benchmarks use 20 ms.
- Standalone: `python plugins/bbb_backend/tests/bbb_simulator.py --latency-ms 20 [--port N]`
  prints `URL <api url>` and `SECRET <secret>` lines, then serves until killed. A test-only
  GET /_simulator/stats answers JSON counts (create calls per meetingID, meetings really
  created, calls by name) so a benchmark in another process can check them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import jwt
import requests

ALGORITHMS_BY_LENGTH = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
API_PREFIX = "/bigbluebutton/api"


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # a storm of connections must queue, not be refused
    daemon_threads = True


@dataclass
class SimAttendee:
    user_id: str
    full_name: str
    role: str


@dataclass
class SimVisitor:
    """One user's timed presence in a meeting, as bbbevents reports it (ms since the epoch)."""

    user_id: str
    full_name: str
    role: str
    joins: list[int] = field(default_factory=list)
    leaves: list[int] = field(default_factory=list)


@dataclass
class SimCallback:
    method: str
    url: str
    data: dict[str, str] = field(default_factory=dict)  # form fields
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SimMeeting:
    meeting_id: str
    name: str
    internal_id: str
    create_time: int
    record: bool
    metadata: dict[str, str]
    params: dict[str, str]
    presentations: list[dict[str, Any]] = field(default_factory=list)
    attendees: list[SimAttendee] = field(default_factory=list)
    visitors: dict[str, SimVisitor] = field(default_factory=dict)
    # Guests BBB holds in its lobby (guestPolicy ASK_MODERATOR), by userID.
    waiting_guests: dict[str, SimAttendee] = field(default_factory=dict)
    ended: bool = False
    end_time: int = 0


@dataclass
class SimRecording:
    record_id: str
    meeting_id: str
    internal_id: str
    name: str
    start_time: int
    end_time: int
    metadata: dict[str, str]
    state: str = "processing"  # processing -> published | unpublished | deleted
    participants: int = 0


@dataclass
class SimRequest:
    method: str
    call: str
    raw_query: str
    params: dict[str, str]
    body: bytes


def _now_ms() -> int:
    return int(time.time() * 1000)


class BBBSimulator:
    def __init__(
        self,
        secret: str = "sim-secret-0123456789abcdef0123456789abcdef",
        supported: tuple[str, ...] = ("sha1", "sha256", "sha384", "sha512"),
        version: str = "2.0",
        bbb_version: str = "3.0.4",
        latency: float = 0.0,
        port: int = 0,
    ):
        self.secret = secret
        self.latency = latency
        self.supported = supported
        self.version = version
        self.bbb_version = bbb_version
        self.lock = threading.RLock()
        self.meetings: dict[str, SimMeeting] = {}
        # A joined guest's session token -> (meetingID, userID, guestStatus).
        self.guest_sessions: dict[str, tuple[str, str, str]] = {}
        self.recordings: dict[str, SimRecording] = {}
        self.requests: list[SimRequest] = []
        self.create_count = 0  # creates that really created a meeting (not duplicateWarning)
        # Callbacks BBB would send (method, url, form data), queued until deliver_callbacks():
        # a real server sends them asynchronously, never inside the API call that caused them.
        self.pending_callbacks: list[SimCallback] = []
        # Faults a test can switch on.
        self.stall_seconds = 0.0
        self.garbage = False
        self.http_status: int | None = None
        self.http_status_calls: dict[str, int] = {}
        self.fail_calls: dict[str, str] = {}
        self.create_delay = 0.0
        # Older bbb-web keeps a forcibly ended meeting in memory for a while: create then
        # answers with that ended meeting and joins fail with meetingForciblyEnded.
        self.linger_ended = False
        # Where callbacks go: a real HTTP request by default; tests may route them elsewhere.
        self.callback_sink: Callable[[SimCallback], int] = self._http_callback
        self._released = threading.Event()
        self.server = _Server(("127.0.0.1", port), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    # Lifecycle

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.origin}{API_PREFIX}/"

    def close(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    # Helpers for tests

    def calls(self, name: str) -> list[SimRequest]:
        with self.lock:
            return [r for r in self.requests if r.call == name]

    def stats(self) -> dict[str, Any]:
        with self.lock:
            by_call: dict[str, int] = {}
            creates: dict[str, int] = {}
            for req in self.requests:
                by_call[req.call] = by_call.get(req.call, 0) + 1
                if req.call == "create":
                    key = req.params.get("meetingID", "")
                    creates[key] = creates.get(key, 0) + 1
            return {
                "calls": by_call,
                "create_calls_by_meeting": creates,
                "meetings_created": self.create_count,
                "latency_seconds": self.latency,
            }

    def join_browser(self, url: str) -> requests.Response:
        """What a browser does with a join URL (without following the redirect)."""
        return requests.get(url, allow_redirects=False, timeout=5)

    def approve_guest(self, meeting_id: str, user_id: str, allow: bool = True) -> None:
        """A moderator admits (or denies) a waiting guest in the BBB client."""
        with self.lock:
            meeting = self.meetings[meeting_id]
            attendee = meeting.waiting_guests.pop(user_id)
            status = "ALLOW" if allow else "DENY"
            for token, (mid, uid, _status) in list(self.guest_sessions.items()):
                if mid == meeting_id and uid == user_id:
                    self.guest_sessions[token] = (mid, uid, status)
            if allow:
                meeting.attendees.append(attendee)
                meeting.visitors.setdefault(
                    user_id, SimVisitor(user_id, attendee.full_name, attendee.role)
                ).joins.append(_now_ms())

    def deny_guest(self, meeting_id: str, user_id: str) -> None:
        self.approve_guest(meeting_id, user_id, allow=False)

    def guest_status(self, session_token: str) -> str:
        """What the guest-wait page learns: WAIT, ALLOW or DENY."""
        with self.lock:
            return self.guest_sessions[session_token][2]

    def end_from_bbb(self, meeting_id: str) -> None:
        """The meeting ends on the server side (last moderator left, duration reached)."""
        self._end(meeting_id)

    def finish_recordings(self, *, callback: bool = True) -> list[str]:
        """Processing done: publish recordings and send recording-ready callbacks."""
        done = []
        with self.lock:
            pending = [r for r in self.recordings.values() if r.state == "processing"]
            for rec in pending:
                rec.state = "published"
                done.append(rec)
        for rec in done:
            url = rec.metadata.get("bbb-recording-ready-url")
            if callback and url:
                self._queue(
                    "POST",
                    url,
                    {"signed_parameters": self.signed_parameters(rec.meeting_id, rec.record_id)},
                )
        return [r.record_id for r in done]

    def _queue(self, method: str, url: str, data: dict[str, str]) -> None:
        with self.lock:
            self.pending_callbacks.append(SimCallback(method, url, data))

    def deliver_callbacks(self) -> list[tuple[str, str, int]]:
        """Send the queued callbacks through `callback_sink`; returns (method, url, status)."""
        with self.lock:
            pending, self.pending_callbacks = self.pending_callbacks, []
        return [(c.method, c.url, self.callback_sink(c)) for c in pending]

    def behave_like_bbblb(self) -> None:
        """bbblb answers getMeetings with HTTP 500 (it does not implement it for tenants)."""
        self.http_status_calls["getMeetings"] = 500

    def add_visit(
        self,
        meeting_id: str,
        user_id: str,
        full_name: str,
        joined_ms: int,
        left_ms: int,
        role: str = "VIEWER",
    ) -> None:
        """Someone was in the meeting between two samples (never listed by getMeetingInfo)."""
        with self.lock:
            visitor = self.meetings[meeting_id].visitors.setdefault(
                user_id, SimVisitor(user_id, full_name, role)
            )
            visitor.joins.append(joined_ms)
            visitor.leaves.append(left_ms)

    def analytics_token(self, secret: str | None = None, *, expires_in: int = 24 * 3600) -> str:
        with warnings.catch_warnings():
            # BBB signs with HS512 whatever the secret's length (bbb-conf makes 40-character ones).
            warnings.filterwarnings("ignore", message="The HMAC key is")  # PyJWT >= 2.10
            return jwt.encode(
                {"exp": int(time.time()) + expires_in},
                secret or self.secret,
                algorithm="HS512",
                headers={"typ": "JWT"},
            )

    def analytics_payload(self, meeting: SimMeeting) -> dict[str, Any]:
        """What bbb's post_events_analytics_callback posts (bbbevents' data, keys in snake_case)."""

        def iso(ms: int) -> str:  # ActiveSupport's JSON form of a Ruby Time
            return (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000))
                + f".{ms % 1000:03d}+00:00"
            )

        attendees = []
        for v in meeting.visitors.values():
            leaves = v.leaves + [meeting.end_time] * (len(v.joins) - len(v.leaves))
            attendees.append(
                {
                    "ext_user_id": v.user_id,
                    "name": v.full_name,
                    "moderator": v.role == "MODERATOR",
                    "joins": [iso(t) for t in v.joins],
                    "leaves": [iso(t) for t in leaves],
                    "duration": sum(b - a for a, b in zip(v.joins, leaves, strict=True)) // 1000,
                    "recent_talking_time": "",
                    "engagement": {
                        "chats": 0,
                        "talks": 0,
                        "raisehand": 0,
                        "emojis": 0,
                        "poll_votes": 0,
                        "talk_time": 0,
                    },
                }
            )
        return {
            "version": "1.0",
            "meeting_id": meeting.meeting_id,
            "internal_meeting_id": meeting.internal_id,
            "data": {
                "metadata": dict(meeting.metadata),
                "duration": (meeting.end_time - meeting.create_time) // 1000,
                "start": iso(meeting.create_time),
                "finish": iso(meeting.end_time),
                "attendees": attendees,
                "files": [],
                "polls": [],
            },
        }

    def signed_parameters(self, meeting_id: str, record_id: str, secret: str | None = None) -> str:
        return jwt.encode(
            {"meeting_id": meeting_id, "record_id": record_id},
            secret or self.secret,
            algorithm="HS256",
        )

    def _http_callback(self, callback: SimCallback) -> int:
        try:
            if callback.method == "GET":
                return requests.get(callback.url, headers=callback.headers, timeout=5).status_code
            if callback.json is not None:
                return requests.post(
                    callback.url, json=callback.json, headers=callback.headers, timeout=5
                ).status_code
            return requests.post(
                callback.url, data=callback.data, headers=callback.headers, timeout=5
            ).status_code
        except requests.RequestException:
            return 0

    # Protocol

    def _handler_class(self):
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def handle(self):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def do_GET(self):
                sim._dispatch(self, "GET")

            def do_POST(self):
                sim._dispatch(self, "POST")

        return Handler

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str = "text/xml;charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        # The client may have given up (timeout tests); a real server just logs that.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.wfile.write(body)

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path, _, raw_query = handler.path.partition("?")
        call = path[len(API_PREFIX) :].strip("/") if path.startswith(API_PREFIX) else None
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if call is not None:
            with self.lock:
                self.requests.append(SimRequest(method, call, raw_query, params, body))
        if path == "/_simulator/stats":
            return self._send(handler, 200, json.dumps(self.stats()).encode(), "application/json")
        if self.stall_seconds:
            self._released.wait(self.stall_seconds)
        if self.latency and call is not None:
            time.sleep(self.latency)
        status = self.http_status or self.http_status_calls.get(call or "")
        if status:
            return self._send(
                handler, status, b"<html><body>Bad gateway</body></html>", "text/html"
            )
        if self.garbage:
            return self._send(
                handler, 200, b"<html><body>Welcome to nginx!</body></html>", "text/html"
            )
        if path.startswith("/playback/presentation/"):
            return self._playback(handler, path.rsplit("/", 1)[-1])
        if call is None:
            return self._send(handler, 404, b"<html>Not Found</html>", "text/html")
        if call == "":
            return self._xml(
                handler,
                {
                    "version": self.version,
                    "apiVersion": self.version,
                    "bbbVersion": self.bbb_version,
                },
            )
        if call == "guestWait":  # the guest-wait page polls with its session token, unsigned
            return self._guest_wait(handler, params)
        if not self._checksum_ok(call, raw_query, params.get("checksum", "")):
            return self._failed(handler, "checksumError", "Checksums do not match")
        if call in self.fail_calls:
            return self._failed(handler, self.fail_calls[call], f"simulated failure of {call}")
        route = {
            "create": self._create,
            "join": self._join,
            "end": self._end_call,
            "isMeetingRunning": self._is_running,
            "getMeetingInfo": self._meeting_info,
            "getMeetings": self._get_meetings,
            "getRecordings": self._get_recordings,
            "publishRecordings": self._publish,
            "deleteRecordings": self._delete,
            "updateRecordings": self._update,
        }.get(call)
        if route is None:
            return self._failed(handler, "unsupportedRequest", "This request is not supported.")
        if method == "POST" and call not in (
            "create",
            "end",
            "getMeetingInfo",
            "getMeetings",
            "isMeetingRunning",
            "updateRecordings",
        ):
            return self._send(handler, 405, b"", "text/plain")
        return route(handler, params, body)

    def _checksum_ok(self, call: str, raw_query: str, given: str) -> bool:
        if not given:
            return False
        # Exactly bbb-common-web's GetChecksum: strip the checksum from the raw query string.
        query = (
            raw_query.replace("&checksum=" + given, "")
            .replace("checksum=" + given + "&", "")
            .replace("checksum=" + given, "")
        )
        algorithm = ALGORITHMS_BY_LENGTH.get(len(given))
        if algorithm is None or algorithm not in self.supported:
            return False
        expected = hashlib.new(algorithm, (call + query + self.secret).encode("utf-8")).hexdigest()
        return expected == given

    # XML

    def _xml(
        self,
        handler,
        fields: dict[str, Any],
        returncode: str = "SUCCESS",
        extra: str = "",
        headers=None,
    ) -> None:
        parts = [f"<returncode>{returncode}</returncode>"]
        for key, value in fields.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            parts.append(f"<{key}>{escape(str(value))}</{key}>")
        body = ("<response>" + "".join(parts) + extra + "</response>").encode("utf-8")
        self._send(handler, 200, body, headers=headers)

    def _failed(self, handler, key: str, message: str) -> None:
        self._xml(handler, {"messageKey": key, "message": message}, returncode="FAILED")

    # Calls

    def _create(self, handler, params: dict[str, str], body: bytes) -> None:
        meeting_id = params.get("meetingID", "")
        name = params.get("name", "")
        if not meeting_id or not name:
            return self._failed(
                handler, "missingParam", "You must specify a meeting ID and name for the meeting."
            )
        if not 2 <= len(meeting_id) <= 256 or "," in meeting_id:
            return self._failed(
                handler,
                "validationError",
                "Meeting ID must be between 2 and 256 characters and cannot contain commas",
            )
        if not 2 <= len(name) <= 64:
            return self._failed(
                handler, "validationError", "Meeting name must be between 2 and 64 characters"
            )
        presentations: list[dict[str, Any]] = []
        if body:
            try:
                root = ET.fromstring(body)
            except ET.ParseError:
                return self._failed(
                    handler, "invalidPayload", "The XML payload could not be parsed"
                )
            for module in root.findall("module"):
                if module.get("name") != "presentation":
                    continue
                for doc in module.findall("document"):
                    if doc.get("url"):
                        presentations.append(
                            {"url": doc.get("url"), "filename": doc.get("filename")}
                        )
                    else:
                        data = base64.b64decode("".join((doc.text or "").split()))
                        presentations.append({"name": doc.get("name"), "data": data})
        if self.create_delay:
            time.sleep(self.create_delay)
        with self.lock:
            existing = self.meetings.get(meeting_id)
            if existing is not None and existing.ended:
                return self._create_response(handler, existing, duplicate=True)
            if existing is not None:
                if existing.name != name:
                    return self._failed(
                        handler, "idNotUnique", "A meeting already exists with that meeting ID."
                    )
                return self._create_response(handler, existing, duplicate=True)
            create_time = _now_ms()
            internal = hashlib.sha1(meeting_id.encode()).hexdigest() + f"-{create_time}"
            metadata = {k[5:].lower(): v for k, v in params.items() if k.startswith("meta_")}
            meeting = SimMeeting(
                meeting_id,
                name,
                internal,
                create_time,
                params.get("record") == "true",
                metadata,
                params,
                presentations,
            )
            self.meetings[meeting_id] = meeting
            self.create_count += 1
        return self._create_response(handler, meeting, duplicate=False)

    def _create_response(self, handler, meeting: SimMeeting, duplicate: bool) -> None:
        fields: dict[str, Any] = {
            "meetingID": meeting.meeting_id,
            "internalMeetingID": meeting.internal_id,
            "parentMeetingID": "bbb-none",
            "createTime": meeting.create_time,
            "voiceBridge": 70000 + meeting.create_time % 9999,
            "dialNumber": "613-555-1234",
            "createDate": time.strftime(
                "%a %b %d %H:%M:%S UTC %Y", time.gmtime(meeting.create_time / 1000)
            ),
            "hasUserJoined": bool(meeting.attendees),
            "duration": meeting.params.get("duration", "0"),
            "hasBeenForciblyEnded": meeting.ended,
        }
        if duplicate:
            fields["messageKey"] = "duplicateWarning"
            fields["message"] = (
                "This conference was already in existence and may currently be in progress."
            )
        else:
            fields["messageKey"] = ""
            fields["message"] = ""
        self._xml(handler, fields)

    def _join(self, handler, params: dict[str, str], body: bytes) -> None:
        meeting = self.meetings.get(params.get("meetingID", ""))
        if not params.get("fullName") or not params.get("meetingID"):
            return self._failed(handler, "missingParam", "You must specify a name and meeting ID.")
        if meeting is None:
            return self._failed(
                handler,
                "notFound",
                "We could not find a meeting with that meeting "
                "ID - perhaps the meeting is not yet running?",
            )
        if meeting.ended:
            return self._failed(
                handler,
                "meetingForciblyEnded",
                "You can not re-join a meeting that has already been forcibly ended.",
            )
        role = params.get("role", "").upper()
        if role not in ("MODERATOR", "VIEWER"):
            return self._failed(
                handler,
                "invalidPassword",
                "You either did not supply a password or the password supplied is neither the "
                "attendee or moderator password for this conference.",
            )
        if params.get("createTime") and params["createTime"] != str(meeting.create_time):
            return self._failed(
                handler,
                "mismatchCreateTimeParam",
                "The createTime parameter submitted mismatches with the current meeting.",
            )
        token = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
        if params.get("guest") == "true":
            policy = meeting.params.get("guestPolicy", "ALWAYS_ACCEPT")
            if policy == "ALWAYS_DENY":
                return self._failed(
                    handler, "guestDeniedAccess", "You have been denied access to this meeting."
                )
            if policy == "ASK_MODERATOR":
                return self._hold_guest(handler, meeting, params, role, token)
        with self.lock:
            user_id = params.get("userID") or f"w_{token[:12]}"
            if any(a.user_id == user_id for a in meeting.attendees):
                self._timed_leave(meeting, user_id)
            meeting.attendees = [a for a in meeting.attendees if a.user_id != user_id]
            meeting.attendees.append(SimAttendee(user_id, params["fullName"], role))
            meeting.visitors.setdefault(
                user_id, SimVisitor(user_id, params["fullName"], role)
            ).joins.append(_now_ms())
        client_url = f"{self.origin}/html5client/join?sessionToken={token}"
        if params.get("redirect", "true") == "false":
            return self._xml(
                handler,
                {
                    "messageKey": "successfullyJoined",
                    "message": "You have joined successfully.",
                    "meeting_id": meeting.internal_id,
                    "user_id": user_id,
                    "auth_token": token[:12],
                    "session_token": token,
                    "url": client_url,
                },
            )
        self._send(handler, 302, b"", "text/plain", headers={"Location": client_url})

    def _hold_guest(
        self, handler, meeting: SimMeeting, params: dict[str, str], role: str, token: str
    ) -> None:
        """bbb-web's join for a guest under ASK_MODERATOR: the guest waits, not an attendee."""
        user_id = params.get("userID") or f"w_{token[:12]}"
        with self.lock:
            meeting.waiting_guests[user_id] = SimAttendee(user_id, params["fullName"], role)
            self.guest_sessions[token] = (meeting.meeting_id, user_id, "WAIT")
        wait_url = f"{self.origin}/html5client/guestWait?sessionToken={token}"
        if params.get("redirect", "true") == "false":
            return self._xml(
                handler,
                {
                    "messageKey": "guestWait",
                    "message": "Guest waiting for approval to join meeting.",
                    "meeting_id": meeting.internal_id,
                    "user_id": user_id,
                    "session_token": token,
                    "guestStatus": "WAIT",
                    "url": wait_url,
                },
            )
        self._send(handler, 302, b"", "text/plain", headers={"Location": wait_url})

    def _guest_wait(self, handler, params: dict[str, str]) -> None:
        with self.lock:
            session = self.guest_sessions.get(params.get("sessionToken", ""))
        if session is None:
            body = {"response": {"returncode": "FAILED", "message": "Session not found"}}
        else:
            meeting_id, user_id, status = session
            url = f"{self.origin}/html5client/join?sessionToken={params['sessionToken']}"
            body = {
                "response": {
                    "returncode": "SUCCESS",
                    "meeting_id": meeting_id,
                    "user_id": user_id,
                    "guestStatus": status,
                    "url": url if status == "ALLOW" else "",
                }
            }
        self._send(handler, 200, json.dumps(body).encode(), "application/json")

    def forget_ended(self) -> None:
        """bbb-web's cleanup: ended meetings leave memory."""
        with self.lock:
            self.meetings = {k: m for k, m in self.meetings.items() if not m.ended}

    def leave(self, meeting_id: str, user_id: str) -> None:
        with self.lock:
            meeting = self.meetings[meeting_id]
            self._timed_leave(meeting, user_id)
            meeting.attendees = [a for a in meeting.attendees if a.user_id != user_id]

    @staticmethod
    def _timed_leave(meeting: SimMeeting, user_id: str) -> None:
        visitor = meeting.visitors.get(user_id)
        if visitor is not None and len(visitor.leaves) < len(visitor.joins):
            visitor.leaves.append(_now_ms())

    def _end(self, meeting_id: str) -> bool:
        with self.lock:
            meeting = self.meetings.get(meeting_id)
            if meeting is None or meeting.ended:
                return False
            meeting.ended = True
            meeting.end_time = _now_ms()
            # bbb-web forgets ended meetings (getMeetingInfo then answers notFound).
            if not self.linger_ended:
                del self.meetings[meeting_id]
            if meeting.record:
                meta = {
                    "meetingName": meeting.name,
                    "meetingId": meeting.meeting_id,
                    "isBreakout": "false",
                    **meeting.metadata,
                }
                self.recordings[meeting.internal_id] = SimRecording(
                    meeting.internal_id,
                    meeting.meeting_id,
                    meeting.internal_id,
                    meeting.name,
                    meeting.create_time,
                    meeting.end_time,
                    meta,
                    participants=len(meeting.attendees),
                )
        url = meeting.metadata.get("endcallbackurl")
        if url:
            sep = "&" if "?" in url else "?"
            self._queue("GET", f"{url}{sep}{urlencode({'recordingmarks': 'false'})}", {})
        analytics_url = meeting.metadata.get("analytics-callback-url")
        # BBB only has the events (and so the analytics) of meetings it keeps events of.
        if analytics_url and (meeting.record or meeting.params.get("meetingKeepEvents") == "true"):
            with self.lock:
                self.pending_callbacks.append(
                    SimCallback(
                        "POST",
                        analytics_url,
                        json=self.analytics_payload(meeting),
                        headers={
                            "Authorization": f"Bearer {self.analytics_token()}",
                            "User-Agent": "BigBlueButton Analytics Callback",
                        },
                    )
                )
        return True

    def _end_call(self, handler, params: dict[str, str], body: bytes) -> None:
        if not self._end(params.get("meetingID", "")):
            return self._failed(
                handler,
                "notFound",
                "We could not find a meeting with that meeting "
                "ID - perhaps the meeting is not yet running?",
            )
        self._xml(
            handler,
            {
                "messageKey": "sentEndMeetingRequest",
                "message": "A request to end the meeting was sent.  Please wait a few seconds, "
                "and then use the getMeetingInfo or isMeetingRunning API calls to verify "
                "that it was ended.",
            },
        )

    def _is_running(self, handler, params: dict[str, str], body: bytes) -> None:
        meeting = self.meetings.get(params.get("meetingID", ""))
        self._xml(handler, {"running": bool(meeting and not meeting.ended and meeting.attendees)})

    def _meeting_xml(self, meeting: SimMeeting) -> str:
        attendees = "".join(
            f"<attendee><userID>{escape(a.user_id)}</userID><fullName>{escape(a.full_name)}</fullName>"
            f"<role>{a.role}</role>"
            f"<isPresenter>{'true' if a.role == 'MODERATOR' else 'false'}</isPresenter>"
            "<isListeningOnly>false</isListeningOnly><hasJoinedVoice>false</hasJoinedVoice><hasVideo>false</hasVideo>"
            "<clientType>HTML5</clientType></attendee>"
            for a in meeting.attendees
        )
        metadata = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in meeting.metadata.items())
        running = bool(meeting.attendees) and not meeting.ended
        fields = {
            "meetingName": meeting.name,
            "meetingID": meeting.meeting_id,
            "internalMeetingID": meeting.internal_id,
            "createTime": meeting.create_time,
            "voiceBridge": 70000,
            "dialNumber": "613-555-1234",
            "running": running,
            "duration": meeting.params.get("duration", "0"),
            "hasUserJoined": bool(meeting.attendees),
            "recording": False,
            "hasBeenForciblyEnded": meeting.ended,
            "startTime": meeting.create_time + 10,
            "endTime": meeting.end_time,
            "participantCount": len(meeting.attendees),
            "listenerCount": 0,
            "voiceParticipantCount": 0,
            "videoCount": 0,
            "maxUsers": meeting.params.get("maxParticipants", "0"),
            "moderatorCount": sum(1 for a in meeting.attendees if a.role == "MODERATOR"),
        }
        inner = "".join(
            f"<{k}>{escape(str(v).lower() if isinstance(v, bool) else str(v))}</{k}>"
            for k, v in fields.items()
        )
        return (
            inner
            + f"<attendees>{attendees}</attendees><metadata>{metadata}</metadata>"
            + "<isBreakout>false</isBreakout>"
        )

    def _meeting_info(self, handler, params: dict[str, str], body: bytes) -> None:
        meeting = self.meetings.get(params.get("meetingID", ""))
        if meeting is None:
            return self._failed(
                handler, "notFound", "We could not find a meeting with that meeting ID"
            )
        self._send(
            handler,
            200,
            f"<response><returncode>SUCCESS</returncode>{self._meeting_xml(meeting)}</response>".encode(),
        )

    def _get_meetings(self, handler, params: dict[str, str], body: bytes) -> None:
        with self.lock:
            items = "".join(
                f"<meeting>{self._meeting_xml(m)}</meeting>" for m in self.meetings.values()
            )
        if not items:
            return self._xml(
                handler,
                {
                    "meetings": "",
                    "messageKey": "noMeetings",
                    "message": "no meetings were found on this server",
                },
            )
        self._send(
            handler,
            200,
            f"<response><returncode>SUCCESS</returncode><meetings>{items}</meetings></response>".encode(),
        )

    def _recording_xml(self, rec: SimRecording) -> str:
        metadata = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in rec.metadata.items())
        url = f"{self.origin}/playback/presentation/2.3/{rec.record_id}"
        images = "".join(
            f'<image alt="slide {i}" height="136" '
            f'width="176">{self.origin}/presentation/{rec.record_id}/thumbnails/thumb-{i}.png</image>'
            for i in (1, 2)
        )
        length = max(1, (rec.end_time - rec.start_time) // 60000)
        return (
            f"<recording><recordID>{rec.record_id}</recordID><meetingID>{escape(rec.meeting_id)}</meetingID>"
            f"<internalMeetingID>{rec.internal_id}</internalMeetingID><name>{escape(rec.name)}</name>"
            "<isBreakout>false</isBreakout>"
            f"<published>{'true' if rec.state == 'published' else 'false'}</published>"
            f"<state>{rec.state}</state><startTime>{rec.start_time}</startTime><endTime>{rec.end_time}</endTime>"
            f"<participants>{rec.participants}</participants><rawSize>0</rawSize><metadata>{metadata}</metadata>"
            f"<size>0</size><playback><format><type>presentation</type><url>{escape(url)}</url>"
            f"<processingTime>1000</processingTime><length>{length}</length><size>0</size>"
            f"<preview><images>{images}</images></preview></format></playback><data/></recording>"
        )

    def _get_recordings(self, handler, params: dict[str, str], body: bytes) -> None:
        states = [s for s in params.get("state", "published,unpublished").split(",") if s]
        with self.lock:
            recs = list(self.recordings.values())
        if params.get("recordID"):
            prefixes = params["recordID"].split(",")
            recs = [r for r in recs if any(r.record_id.startswith(p) for p in prefixes)]
        elif params.get("meetingID"):
            ids = set(params["meetingID"].split(","))
            recs = [r for r in recs if r.meeting_id in ids]
        if "any" not in states:
            recs = [r for r in recs if r.state in states]
        recs.sort(key=lambda r: r.start_time)
        total = len(recs)
        if "offset" in params or "limit" in params:
            offset = int(params.get("offset") or 0)
            limit = int(params.get("limit") or 100)
            if offset < 0 or not 1 <= limit <= 100:
                return self._failed(
                    handler, "validationError", "offset must be >= 0 and limit between 1 and 100"
                )
            recs = recs[offset : offset + limit]
        if not recs:
            return self._xml(
                handler,
                {
                    "recordings": "",
                    "messageKey": "noRecordings",
                    "message": "There are no recordings for the meeting(s).",
                },
            )
        items = "".join(self._recording_xml(r) for r in recs)
        self._send(
            handler,
            200,
            f"<response><returncode>SUCCESS</returncode><recordings>{items}</recordings><totalElements>{total}</totalElements></response>".encode(),
        )

    def _matching(self, params: dict[str, str]) -> list[SimRecording]:
        ids = [i for i in params.get("recordID", "").split(",") if i]
        with self.lock:
            return [
                r for r in self.recordings.values() if r.record_id in ids and r.state != "deleted"
            ]

    def _publish(self, handler, params: dict[str, str], body: bytes) -> None:
        if not params.get("recordID") or params.get("publish") not in ("true", "false"):
            return self._failed(
                handler,
                "missingParamRecordID",
                "You must specify one or more a recordIDs and publish.",
            )
        recs = self._matching(params)
        if not recs:
            return self._failed(handler, "notFound", "We could not find recordings")
        with self.lock:
            for rec in recs:
                rec.state = "published" if params["publish"] == "true" else "unpublished"
        self._xml(handler, {"published": params["publish"]})

    def _delete(self, handler, params: dict[str, str], body: bytes) -> None:
        if not params.get("recordID"):
            return self._failed(
                handler, "missingParamRecordID", "You must specify one or more a recordIDs."
            )
        recs = self._matching(params)
        if not recs:
            return self._failed(handler, "notFound", "We could not find recordings")
        with self.lock:
            for rec in recs:
                rec.state = "deleted"
        self._xml(handler, {"deleted": True})

    def _update(self, handler, params: dict[str, str], body: bytes) -> None:
        recs = self._matching(params)
        if not recs:
            return self._failed(handler, "notFound", "We could not find recordings")
        with self.lock:
            for rec in recs:
                rec.metadata.update({k[5:]: v for k, v in params.items() if k.startswith("meta_")})
        self._xml(handler, {"updated": True})

    def _playback(self, handler, record_id: str) -> None:
        rec = self.recordings.get(record_id)
        if rec is None or rec.state != "published":
            return self._send(handler, 404, b"<html>Recording not found</html>", "text/html")
        self._send(
            handler,
            200,
            f"<html><title>{escape(rec.name)}</title><body>playback</body></html>".encode(),
            "text/html",
        )


def main(argv: list[str] | None = None) -> None:
    """Serve a simulator until killed (benchmarks run it in its own process)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="BigBlueButton API simulator")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay added to every API answer"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default="sim-secret-0123456789abcdef0123456789abcdef")
    args = parser.parse_args(argv)
    sim = BBBSimulator(secret=args.secret, latency=args.latency_ms / 1000, port=args.port)
    print(f"URL {sim.api_url}", flush=True)
    print(f"SECRET {sim.secret}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sys.exit(0)
    finally:
        sim.close()


if __name__ == "__main__":
    main()
