"""A small BigBlueButton API client (also talks to Scalelite and bbblb, which speak the same API).

Every call is `GET <base>/<call>?<query>&checksum=<hex>` where the checksum is
hash(call + query + secret). The server hashes the raw query string it receives, so we
build the query string once and hash exactly those bytes. The server picks the hash
function from the checksum's length (40 sha1, 64 sha256, 96 sha384, 128 sha512).
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit
from xml.etree.ElementTree import Element

import requests
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from portal.plugins import BackendError, BackendUnavailable
from portal.plugins.i18n import gettext

log = logging.getLogger(__name__)

ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
# Calls that change state in a way a blind retry could duplicate. Everything else we use is
# idempotent by the API's definition (create with the same meetingID answers duplicateWarning).
NON_IDEMPOTENT = frozenset({"insertDocument", "sendChatMessage", "putRecordingTextTrack"})
# Calls repeated after a *read* timeout, i.e. when the first request may still be running on the
# server. Only reads: a create that timed out probably reached BBB (an identical create would
# answer duplicateWarning, so it would be harmless, but a stalled server would get a second
# create and the teacher would wait twice); the next click creates again (duplicateWarning if
# the first one finished).
REPEATABLE_AFTER_READ_TIMEOUT = frozenset(
    {"version", "getMeetingInfo", "getMeetings", "isMeetingRunning", "getRecordings"}
)
# No attempt is started with less than this left of the action's budget: it could only time out.
MIN_ATTEMPT_SECONDS = 0.05

Params = Mapping[str, Any] | Iterable[tuple[str, Any]]


class BBBError(BackendError):
    """The server answered <returncode>FAILED</returncode>; `message_key` says why."""

    def __init__(self, call: str, message_key: str, message: str):
        # The server's own `message` is its words: it is shown as it came.
        super().__init__(
            gettext(
                "BigBlueButton refused %(call)s: %(text)s (%(message_key)s)",
                call=call,
                text=message or message_key or gettext("unknown error"),
                message_key=message_key,
            ),
            code=f"bbb_{message_key or 'failed'}",
        )
        self.call = call
        self.message_key = message_key
        self.message = message


class BBBUnavailable(BackendUnavailable):
    """No usable answer: connection refused, timeout, HTTP error, or not a BBB response."""

    def __init__(self, user_message: str, *, code: str = "bbb_unavailable"):
        super().__init__(user_message, code=code)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_query(params: Params) -> str:
    """The query string in the given order; None values are left out.

    quote_plus with its default safe "/" is what bigbluebutton-api-python and most
    integrations send; BBB decodes either form, the checksum only needs us to hash what we send.
    """
    items = params.items() if isinstance(params, Mapping) else params
    return "&".join(
        f"{quote_plus(str(k))}={quote_plus(_value(v))}" for k, v in items if v is not None
    )


def checksum(call: str, query: str, secret: str, algorithm: str = "sha256") -> str:
    try:
        digest = ALGORITHMS[algorithm]
    except KeyError as exc:
        raise BackendError(
            gettext("unknown checksum algorithm %(algorithm)r", algorithm=algorithm),
            code="bbb_bad_algorithm",
        ) from exc
    return digest((call + query + secret).encode("utf-8")).hexdigest()


def api_base(url: str) -> str:
    """Normalise what an admin pastes to the API endpoint ending in '/'.

    `bbb-conf --secret` prints https://host/bigbluebutton/; Scalelite and bbblb document
    https://host/bigbluebutton/api/; a bare host gets the standard path.
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        pass
    elif path.endswith("/bigbluebutton"):
        path += "/api"
    elif path == "":
        path = "/bigbluebutton/api"
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    # The API is stateless; refusing cookies keeps the shared session free of per-call state.
    def set_ok(self, cookie, request):  # noqa: D401 - cookiejar API
        return False


_session: requests.Session | None = None
_session_lock = threading.Lock()


def shared_session() -> requests.Session:
    """One pooled session per process: urllib3's pool is thread-safe, cookies are refused."""
    global _session
    with _session_lock:
        if _session is None:
            session = requests.Session()
            session.cookies.set_policy(_NoCookies())
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=10, pool_maxsize=32, max_retries=0
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = "classroom-portal-bbb/0.1"
            _session = session
        return _session


def _text(element: Element | None, tag: str, default: str = "") -> str:
    if element is None:
        return default
    found = element.find(tag)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Attendee:
    user_id: str
    full_name: str
    role: str


@dataclass(frozen=True)
class MeetingInfo:
    meeting_id: str
    internal_meeting_id: str
    create_time: str
    running: bool
    has_been_forcibly_ended: bool
    end_time: int
    participant_count: int
    attendees: list[Attendee] = field(default_factory=list)

    @classmethod
    def from_xml(cls, root: Element) -> MeetingInfo:
        attendees = [
            Attendee(_text(a, "userID"), _text(a, "fullName"), _text(a, "role"))
            for a in root.findall("./attendees/attendee")
        ]
        return cls(
            meeting_id=_text(root, "meetingID"),
            internal_meeting_id=_text(root, "internalMeetingID"),
            create_time=_text(root, "createTime"),
            running=_text(root, "running") == "true",
            has_been_forcibly_ended=_text(root, "hasBeenForciblyEnded") == "true",
            end_time=_int(_text(root, "endTime")),
            participant_count=_int(_text(root, "participantCount")),
            attendees=attendees,
        )

    @property
    def ended(self) -> bool:
        return self.has_been_forcibly_ended or self.end_time > 0


@dataclass(frozen=True)
class PlaybackFormat:
    type: str
    url: str
    length_minutes: int
    preview_images: list[str]


@dataclass(frozen=True)
class Recording:
    record_id: str
    meeting_id: str
    name: str
    published: bool
    state: str
    start_time_ms: int
    end_time_ms: int
    metadata: dict[str, str]
    formats: list[PlaybackFormat]

    @classmethod
    def from_xml(cls, element: Element) -> Recording:
        formats = []
        for fmt in element.findall("./playback/format"):
            images = [img.text.strip() for img in fmt.findall("./preview/images/image") if img.text]
            formats.append(
                PlaybackFormat(
                    _text(fmt, "type"), _text(fmt, "url"), _int(_text(fmt, "length")), images
                )
            )
        meta_element = element.find("metadata")
        children = list(meta_element) if meta_element is not None else []
        metadata = {child.tag: (child.text or "").strip() for child in children}
        return cls(
            record_id=_text(element, "recordID"),
            meeting_id=_text(element, "meetingID"),
            name=_text(element, "name"),
            published=_text(element, "published") == "true",
            state=_text(element, "state"),
            start_time_ms=_int(_text(element, "startTime")),
            end_time_ms=_int(_text(element, "endTime")),
            metadata=metadata,
            formats=formats,
        )


class BBBClient:
    """One BBB endpoint (server, Scalelite or bbblb) with its shared secret.

    `timeout` is the budget of one user action, not of one HTTP request: every call and retry
    made through this client shares it (the deadline starts with the first request). Build one
    client per action (`client_for(settings)` in each backend method), so a teacher waits at
    most `timeout` seconds, whatever the retries.
    """

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        algorithm: str = "sha256",
        timeout: float = 10.0,
        retries: int = 1,
        session: requests.Session | None = None,
    ):
        if algorithm not in ALGORITHMS:
            raise BackendError(
                gettext("unknown checksum algorithm %(algorithm)r", algorithm=algorithm),
                code="bbb_bad_algorithm",
            )
        self.base = api_base(base_url)
        self.secret = secret.strip()
        self.algorithm = algorithm
        self.timeout = timeout
        self.retries = retries
        self.session = session or shared_session()
        self._started: float | None = None

    def with_algorithm(self, algorithm: str) -> BBBClient:
        """The same endpoint and secret signing with another algorithm, sharing this action's
        deadline."""
        other = BBBClient(
            self.base,
            self.secret,
            algorithm=algorithm,
            timeout=self.timeout,
            retries=self.retries,
            session=self.session,
        )
        other._started = self._started
        return other

    # URLs

    def query(self, call: str, params: Params) -> str:
        """The signed query string: exactly the bytes hashed, then '&checksum='."""
        query = encode_query(params)
        digest = checksum(call, query, self.secret, self.algorithm)
        return f"{query}&checksum={digest}" if query else f"checksum={digest}"

    def url(self, call: str, params: Params = ()) -> str:
        return f"{self.base}{call}?{self.query(call, params)}"

    def join_url(self, params: Params) -> str:
        """Join is a browser redirect, never a server-side call: we only sign the URL."""
        return self.url("join", params)

    # Transport

    def elapsed(self) -> float:
        """Seconds since this action's first request."""
        return 0.0 if self._started is None else time.monotonic() - self._started

    def _remaining(self) -> float:
        if self._started is None:
            self._started = time.monotonic()
        return self.timeout - self.elapsed()

    def _timed_out(self, exc: Exception | None = None) -> BBBUnavailable:
        error = BBBUnavailable(
            gettext(
                "no answer after %(elapsed).1f s (the limit for one action is %(limit)g s)",
                elapsed=self.elapsed(),
                limit=self.timeout,
            ),
            code="bbb_timeout",
        )
        error.__cause__ = exc
        return error

    def _request(self, method: str, url: str, body: bytes | None, call: str) -> requests.Response:
        idempotent = call not in NON_IDEMPOTENT
        attempts = 1 + (self.retries if idempotent else 0)
        last: BBBUnavailable | None = None
        for attempt in range(attempts):
            if attempt:
                # The pause counts against the budget too.
                time.sleep(
                    max(0.0, min(0.25 * attempt, 1.0, self._remaining() - MIN_ATTEMPT_SECONDS))
                )
            remaining = self._remaining()
            if remaining < MIN_ATTEMPT_SECONDS:
                break
            try:
                response = self.session.request(
                    method,
                    url,
                    data=body,
                    timeout=(min(remaining, 5.0), remaining),
                    headers={"Content-Type": "application/xml"} if body is not None else None,
                    allow_redirects=False,
                )
            except requests.ConnectTimeout as exc:
                # Nothing reached the server: trying again is safe for every idempotent call.
                last = self._timed_out(exc)
                continue
            except requests.Timeout as exc:
                # Sent, but no answer: the request may still be running on the server.
                last = self._timed_out(exc)
                if call in REPEATABLE_AFTER_READ_TIMEOUT:
                    continue
                break
            except requests.ConnectionError as exc:
                last = BBBUnavailable(
                    gettext("cannot connect to the BigBlueButton server"), code="bbb_unreachable"
                )
                last.__cause__ = exc
                continue
            if response.status_code >= 500:
                # A proxy's 502/503 or the server's own error. Repeating a create is safe: the same
                # query string (same meetingID, name and parameters) answers duplicateWarning if
                # the first one did arrive.
                last = BBBUnavailable(
                    gettext(
                        "the server answered with an error (HTTP %(status)s)",
                        status=response.status_code,
                    ),
                    code="bbb_http_error",
                )
                continue
            return response
        raise last if last is not None else self._timed_out()

    @staticmethod
    def _parse(call: str, response: requests.Response) -> Element:
        if response.status_code != 200:
            raise BBBUnavailable(
                gettext(
                    "the server answered HTTP %(status)s; is this a BigBlueButton API URL?",
                    status=response.status_code,
                ),
                code="bbb_not_bbb",
            )
        try:
            root = SafeET.fromstring(response.content)
        except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
            raise BBBUnavailable(
                gettext("the server's answer is not BigBlueButton API XML; check the URL"),
                code="bbb_not_bbb",
            ) from exc
        returncode = _text(root, "returncode")
        if root.tag != "response" or returncode not in ("SUCCESS", "FAILED"):
            raise BBBUnavailable(
                gettext("the server's answer is not a BigBlueButton API response; check the URL"),
                code="bbb_not_bbb",
            )
        if returncode == "FAILED":
            raise BBBError(call, _text(root, "messageKey"), _text(root, "message"))
        return root

    def call(self, call: str, params: Params = (), *, body: bytes | None = None) -> Element:
        """Run one API call and return the <response> element; FAILED raises BBBError."""
        url = self.url(call, params)
        method = "POST" if body is not None else "GET"
        started = time.perf_counter()
        try:
            response = self._request(method, url, body, call)
            return self._parse(call, response)
        finally:
            # Never the URL: it carries the checksum (and join data).
            log.debug(
                "bbb %s %s on %s took %.0f ms",
                method,
                call,
                self.base,
                (time.perf_counter() - started) * 1000,
            )

    # API calls

    def version(self) -> dict[str, str]:
        """The unauthenticated API root: <version>, and on 2.x+ <bbbVersion>."""
        response = self._request("GET", self.base, None, "version")
        root = self._parse("version", response)
        return {
            "apiVersion": _text(root, "version") or _text(root, "apiVersion"),
            "bbbVersion": _text(root, "bbbVersion"),
        }

    def create(self, params: Params, presentation_xml: bytes | None = None) -> Element:
        """Create (idempotent for the same meetingID); `duplicateWarning` is a success."""
        return self.call("create", params, body=presentation_xml)

    def end(self, meeting_id: str) -> None:
        self.call("end", {"meetingID": meeting_id})

    def is_meeting_running(self, meeting_id: str) -> bool:
        return _text(self.call("isMeetingRunning", {"meetingID": meeting_id}), "running") == "true"

    def get_meeting_info(self, meeting_id: str) -> MeetingInfo:
        return MeetingInfo.from_xml(self.call("getMeetingInfo", {"meetingID": meeting_id}))

    def get_meetings(self) -> list[MeetingInfo]:
        root = self.call("getMeetings")
        return [MeetingInfo.from_xml(m) for m in root.findall("./meetings/meeting")]

    def get_recordings(
        self,
        *,
        meeting_ids: Iterable[str] = (),
        record_ids: Iterable[str] = (),
        state: str | None = None,
        page_size: int = 100,
        max_pages: int = 50,
    ) -> list[Recording]:
        """All matching recordings, following offset/limit paging (BBB 2.6+; older servers
        ignore the paging parameters and answer everything at once)."""
        params: dict[str, Any] = {}
        if record_ids:
            params["recordID"] = ",".join(record_ids)
        elif meeting_ids:
            params["meetingID"] = ",".join(meeting_ids)
        if state:
            params["state"] = state
        out: list[Recording] = []
        seen: set[str] = set()
        for page in range(max_pages):
            root = self.call(
                "getRecordings", {**params, "offset": page * page_size, "limit": page_size}
            )
            batch = [Recording.from_xml(r) for r in root.findall("./recordings/recording")]
            fresh = [r for r in batch if r.record_id not in seen]
            seen.update(r.record_id for r in fresh)
            out.extend(fresh)
            # A short page, or a server that ignored paging (repeats itself), ends the loop.
            if len(batch) < page_size or not fresh:
                break
        return out

    def publish_recordings(self, record_ids: Iterable[str], publish: bool) -> None:
        self.call("publishRecordings", {"recordID": ",".join(record_ids), "publish": publish})

    def delete_recordings(self, record_ids: Iterable[str]) -> None:
        self.call("deleteRecordings", {"recordID": ",".join(record_ids)})

    def update_recordings(self, record_ids: Iterable[str], meta: Mapping[str, str]) -> None:
        params = {"recordID": ",".join(record_ids)}
        params.update({f"meta_{k}": v for k, v in meta.items()})
        self.call("updateRecordings", params)
