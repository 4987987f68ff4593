"""The live class panel's realtime side: Socket.IO events for chat, polls, presence and
the class starting and ending, served by an asyncio server (python-socketio AsyncServer over
ASGI, portal/realtime_server.py). This module is what every process needs: the rooms, the
emitters, the events' handlers and the core's announcements; the server is imported only
where it runs.

Why async: a socket that waits for the class costs a few kilobytes and no thread, so one
process holds thousands of idle connections (a class-start rush is 5,000 waiting students).
Event handlers that touch the database run the core's sync services (portal.core.chat,
polls, meetings, ...) in a thread pool inside a Flask app context, so every rule stays in the
core, once. One client's events are handled in order (a chat burst stays in sending order).

A socket authenticates once, on connect, with the portal's access JWT (the `auth` payload
{"token": "..."} or the access cookie); every event then re-checks the token's expiry and
revocation, the account, membership and blocks before acting. Each class occurrence
(schedule) has a room `schedule:<id>` and a teachers' room `schedule:<id>:managers`; each
user has a room `user:<id>`. A guest from an invite link connects with the room credential
its page got ({"guest_token": ...}, portal/core/invites.py): the socket is in the guest's
own room `guest:<id>` and the occurrence's `schedule:<id>:guests` (lobby decisions, the class
starting), enters `schedule:<id>` only once admitted, and may only join that one occurrence,
read and (unless viewer only) write its chat. Events answer through the Socket.IO acknowledgement:
{"ok": true, ...} or {"ok": false, "error": {"code", "message"}}.

The core announces changes through live_state.live_event (after commit); this module hands
them to the process's *emitter*: the in-process realtime server when there is one (`portal
serve`, tests), else a write-only Redis manager (Flask workers beside a `portal realtime`
process, sharing PORTAL_REDIS_URL), else nowhere (a CLI command without Redis). docs/live.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from flask import Flask
from flask_jwt_extended import decode_token
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portal.api.meetings import join_target_body
from portal.core import (
    attendance,
    auth_tokens,
    chat,
    invites,
    live_state,
    meetings,
    polls,
    presentations,
    signals,
    unit_of_work,
)
from portal.core.errors import Forbidden, NotAuthenticated, NotFound, PortalError, ValidationFailed
from portal.core.models import Guest, Schedule, User
from portal.current import current_flask_app
from portal.extensions import db
from portal.i18n import _, force_locale, recipient_locale, site_locale

if TYPE_CHECKING:
    import socketio

    from portal.realtime_server import RealtimeServer

log = logging.getLogger(__name__)

NAMESPACE = "/"
EMITTER_KEY = "portal.live_emitter"


def room(schedule_id: int) -> str:
    return f"schedule:{schedule_id}"


def managers_room(schedule_id: int) -> str:
    return f"schedule:{schedule_id}:managers"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def guest_room(guest_id: int) -> str:
    return f"guest:{guest_id}"


def guests_room(schedule_id: int) -> str:
    """Every guest socket of the occurrence, waiting or admitted (the class starting)."""
    return f"schedule:{schedule_id}:guests"


# --- emitters: how this process reaches the sockets --------------------------------------


class NullEmitter:
    """No realtime server reachable from this process (no Redis, none in-process)."""

    def emit(self, event: str, payload: Any, to: str) -> None:
        log.debug("live event %s to %s dropped: no realtime server", event, to)

    def leave_room(self, sid: str, room_name: str) -> None:
        pass

    def disconnect(self, sid: str) -> None:
        pass

    def presence_changed(self, schedule_id: int) -> None:
        pass


class RedisEmitter:
    """A Flask worker's write-only view of the realtime processes, through Redis pub/sub."""

    def __init__(self, url: str, channel: str) -> None:
        self.url = url
        self.channel = channel
        self._manager: socketio.RedisManager | None = None
        self._manager_lock = threading.Lock()

    @property
    def manager(self) -> socketio.RedisManager:
        """Made at the first announcement: python-socketio (and the aiohttp its package
        imports) is a sixth of an app's start, and many processes never announce anything."""
        if self._manager is None:
            with self._manager_lock:
                if self._manager is None:
                    import socketio

                    self._manager = socketio.RedisManager(
                        self.url, channel=self.channel, write_only=True
                    )
        return self._manager

    def emit(self, event: str, payload: Any, to: str) -> None:
        self.manager.emit(event, payload, namespace=NAMESPACE, room=to)

    def leave_room(self, sid: str, room_name: str) -> None:
        self.manager.leave_room(sid, NAMESPACE, room_name)

    def presence_changed(self, schedule_id: int) -> None:
        # A Flask worker's change (a block, a guest entering): rare, so announced at once.
        send_presence(schedule_id, self)

    def disconnect(self, sid: str) -> None:
        # PubSubManager.disconnect() also acts on its own (absent) server; publish only.
        self.manager._publish(
            {
                "method": "disconnect",
                "sid": sid,
                "namespace": NAMESPACE,
                "host_id": self.manager.host_id,
            }
        )


class LocalEmitter:
    """The realtime server running in this process: one FIFO queue drained by its event loop,
    so announcements reach every socket in the order the core made them."""

    def __init__(self, server: RealtimeServer) -> None:
        self.server = server

    def emit(self, event: str, payload: Any, to: str) -> None:
        self.server.push(("emit", event, payload, to))

    def leave_room(self, sid: str, room_name: str) -> None:
        self.server.push(("leave", sid, room_name))

    def disconnect(self, sid: str) -> None:
        self.server.push(("disconnect", sid))

    def presence_changed(self, schedule_id: int) -> None:
        self.server.push(("presence", schedule_id))  # coalesced per room (announce_presence)


def default_emitter(app: Flask) -> NullEmitter | RedisEmitter:
    url = app.config.get("REDIS_URL")
    if url:
        return RedisEmitter(url, app.config.get("SOCKETIO_CHANNEL") or live_state.DEFAULT_CHANNEL)
    return NullEmitter()


def emitter() -> NullEmitter | RedisEmitter | LocalEmitter:
    app = current_flask_app()
    found = app.extensions.get(EMITTER_KEY)
    if found is None:
        found = app.extensions[EMITTER_KEY] = default_emitter(app)
    return found


# --- authentication -------------------------------------------------------------------


def decode_access_token(token: str) -> dict[str, Any]:
    """The claims of a well-signed, unexpired access token: computation only, no database,
    so the realtime server runs it on its event loop (inside an app context)."""
    try:
        claims = decode_token(token)
    except Exception as exc:  # expired, bad signature, malformed: all mean "sign in again"
        raise NotAuthenticated(
            "your session token is invalid or expired; sign in again", code="invalid_token"
        ) from exc
    if claims.get("type") != "access":
        raise NotAuthenticated("an access token is required", code="invalid_token")
    return claims


def authenticate(token: str) -> tuple[User, dict[str, Any]]:
    """The user an access token belongs to, with the same checks as the REST API."""
    claims = decode_access_token(token)
    return _check_claims(claims), claims


def _check_claims(claims: dict[str, Any]) -> User:
    if _expired(claims):
        raise NotAuthenticated("your session has expired; sign in again", code="token_expired")
    if auth_tokens.is_revoked(claims):
        raise _revoked()
    try:
        user = db.session.get(User, int(claims["sub"]))
    except (KeyError, ValueError):
        user = None
    if _account_refused(user, claims):
        raise _no_account()
    return user  # type: ignore[return-value]  # _account_refused() is False: not None


def check_connects(batch: list[dict[str, Any]]) -> list[int | PortalError]:
    """The revocation and account checks of many connecting sockets at once (their tokens
    are already decoded): two queries for the whole batch instead of one pool hop and one
    query per connect. Each socket gets its user id or the refusal."""
    return [v if isinstance(v, PortalError) else v.id for v in check_claims_many(batch)]


def check_claims_many(batch: list[dict[str, Any]]) -> list[User | PortalError]:
    """_check_claims for many sockets' claims in two queries (revocations, users): the same
    rules in the same order; each gets its user or the refusal."""
    revoked = auth_tokens.revoked_among(
        sorted({key for claims in batch for key in auth_tokens.revocation_keys(claims)})
    )
    ids = {_subject(claims) for claims in batch} - {None}
    users = {u.id: u for u in db.session.execute(db.select(User).where(User.id.in_(ids))).scalars()}
    verdicts: list[User | PortalError] = []
    for claims in batch:
        keys = auth_tokens.revocation_keys(claims)
        user = users.get(_subject(claims) or 0)
        if _expired(claims):
            verdicts.append(
                NotAuthenticated("your session has expired; sign in again", code="token_expired")
            )
        elif not keys or revoked.intersection(keys):
            verdicts.append(_revoked())
        elif user is None or _account_refused(user, claims):
            verdicts.append(_no_account())
        else:
            verdicts.append(user)
    return verdicts


def _subject(claims: dict[str, Any]) -> int | None:
    try:
        return int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        return None


def _expired(claims: dict[str, Any]) -> bool:
    return int(claims.get("exp", 0)) <= time.time()


def _account_refused(user: User | None, claims: dict[str, Any]) -> bool:
    return user is None or not user.is_active or auth_tokens.issued_before_cutoff(user, claims)


def _revoked() -> NotAuthenticated:
    return NotAuthenticated("you have signed out; sign in again", code="token_revoked")


def _no_account() -> NotAuthenticated:
    return NotAuthenticated("this account no longer exists or is disabled")


# What a socket keeps of its token: the claims every event checks again, nothing more
# (5,000 idle sockets each holding a whole decoded token add up).
_KEPT_CLAIMS = ("sub", "exp", "iat", "jti", auth_tokens.SESSION_CLAIM, auth_tokens.GENERATION_CLAIM)


@dataclass(slots=True)
class _Socket:
    user_id: int  # a guest's socket: minus the guest's id
    claims: dict[str, Any]
    schedules: set[int] = field(default_factory=set)
    guest_token: str | None = None  # a guest's room credential, checked again on every event
    guest_schedule: int | None = None  # the one occurrence that credential names


# --- event payloads -------------------------------------------------------------------

# Database ids are 32-bit integers; larger numbers are refused before reaching the database.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _In(BaseModel):
    # Built on first use, as the API's models (portal.api.schemas.Model).
    model_config = ConfigDict(extra="ignore", defer_build=True)


class ScheduleIn(_In):
    schedule_id: Id


class JoinIn(ScheduleIn):
    limit: int = Field(default=50, ge=1, le=chat.MAX_PAGE)
    # A client joining again after a reconnect sends the last message id it saw and gets
    # what it missed (oldest first) instead of the latest page.
    after_id: int | None = Field(default=None, ge=0, le=2**31 - 1)


class HistoryIn(JoinIn):
    before_id: Id | None = None


class ChatSendIn(ScheduleIn):
    body: str = Field(max_length=100_000)


class MessageIn(_In):
    message_id: Id


class MuteIn(ScheduleIn):
    user_id: Id
    muted: bool = True


class PollCreateIn(ScheduleIn):
    question: str
    options: list[str]
    multiple_choice: bool = False
    anonymous: bool = False


class PollIn(_In):
    poll_id: Id


class PublishIn(PollIn):
    published: bool = True


class VoteIn(PollIn):
    option_ids: list[Id] = Field(max_length=10)


class PresentIn(ScheduleIn):
    slide_id: Id | None = None
    page: int = Field(default=1, ge=1, le=100_000)


class PageIn(ScheduleIn):
    page: int = Field(ge=1, le=100_000)


class CoPresentIn(ScheduleIn):
    allowed: bool


class StrokeIn(ScheduleIn):
    # Checked by the core (size first, then the schema): presentations.validate_stroke.
    stroke: Any = None


class StrokesIn(ScheduleIn):
    slide_id: Id | None = None
    page: int = Field(default=1, ge=1, le=100_000)


class EraseIn(ScheduleIn):
    stroke_id: Id


def _error(exc: PortalError, locale: str | None = None) -> dict[str, Any]:
    """A refusal as an event's ack, said in `locale` (the socket's user's language; else the
    site's), as the API says it in the reader's: messages are English in the code."""
    with force_locale(locale or site_locale()):
        return {"ok": False, "error": {"code": exc.code, "message": exc.shown}}


def _internal_error() -> dict[str, Any]:
    return {"ok": False, "error": {"code": "internal_error", "message": "something went wrong"}}


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:5]
        )
        raise ValidationFailed(problems) from exc


# --- the sync work of each event (runs in the pool, inside an app context) ---------------


def _guest_join(sid: str, guest: Guest, data: JoinIn) -> dict[str, Any]:
    """An admitted guest's page joins its occurrence: the chat so far and the class's state."""
    messages, has_more = chat.guest_history(
        guest, data.schedule_id, after_id=data.after_id, limit=data.limit
    )
    return {
        "schedule_id": data.schedule_id,
        "state": meetings.occurrence_state(data.schedule_id),
        "manager": False,
        "muted": False,
        "viewer_only": bool(guest.link.viewer_only),
        "messages": messages,
        "has_more": has_more,
        "presence": live_state.presence_list(data.schedule_id),
    }


def _guest_chat_send(guest: Guest, data: ChatSendIn) -> dict[str, Any]:
    return {"message": chat.post_guest_message(guest, data.schedule_id, data.body)}


def _leave(sid: str, _actor: Any, parsed: ScheduleIn) -> dict[str, Any]:
    leave_presence(parsed.schedule_id, sid)
    return {"schedule_id": parsed.schedule_id}


def leave_presence(schedule_id: int, sid: str) -> bool:
    """Forget one socket in one room (presence and attendance); True if it was there.
    Has the room told who is there now."""
    entry = live_state.presence_entry(schedule_id, sid)
    if not live_state.presence_remove(schedule_id, sid):
        return False
    users = live_state.presence_list(schedule_id)
    if entry is not None and entry["id"] not in {u["id"] for u in users}:
        attendance.room_closed(schedule_id, int(entry["id"]))
        unit_of_work.commit()
    emitter().presence_changed(schedule_id)
    return True


def send_presence(schedule_id: int, out: RedisEmitter | LocalEmitter) -> int:
    """Announce the room's presence list as it is now. The list is read and published under
    the room's ordering lock (live_state.presence_announcing), and with Redis every process,
    this one too, delivers it from the pub/sub channel: announcements reach every client in
    the order their lists were read, whichever process sent them."""
    with live_state.presence_announcing(schedule_id):
        users = live_state.presence_list(schedule_id)
        out.emit("presence", {"schedule_id": schedule_id, "users": users}, room(schedule_id))
    return len(users)


def _presence(actor: User, data: ScheduleIn) -> dict[str, Any]:
    schedule = chat.require_panel_access(actor, data.schedule_id)
    return {"schedule_id": schedule.id, "users": live_state.presence_list(schedule.id)}


def _chat_send(actor: User, data: ChatSendIn) -> dict[str, Any]:
    return {"message": chat.post_message(actor, data.schedule_id, data.body)}


def _chat_history(actor: User, data: HistoryIn) -> dict[str, Any]:
    messages, has_more = chat.history(
        actor, data.schedule_id, before_id=data.before_id, after_id=data.after_id, limit=data.limit
    )
    return {"messages": messages, "has_more": has_more}


def _chat_delete(actor: User, data: MessageIn) -> dict[str, Any]:
    chat.delete_message(actor, data.message_id)
    return {"id": data.message_id}


def _chat_mute(actor: User, data: MuteIn) -> dict[str, Any]:
    schedule = chat.require_panel_access(actor, data.schedule_id)
    return {
        "user_id": data.user_id,
        "muted": chat.set_muted(actor, schedule.class_id, data.user_id, data.muted),
    }


def _poll_create(actor: User, data: PollCreateIn) -> dict[str, Any]:
    return {
        "poll": polls.create_poll(
            actor,
            data.schedule_id,
            question=data.question,
            options=data.options,
            multiple_choice=data.multiple_choice,
            anonymous=data.anonymous,
        )
    }


def _poll_list(actor: User, data: ScheduleIn) -> dict[str, Any]:
    return {"polls": polls.list_polls(actor, data.schedule_id)}


def _poll_open(actor: User, data: PollIn) -> dict[str, Any]:
    return {"poll": polls.open_poll(actor, data.poll_id)}


def _poll_close(actor: User, data: PollIn) -> dict[str, Any]:
    return {"poll": polls.close_poll(actor, data.poll_id)}


def _poll_publish(actor: User, data: PublishIn) -> dict[str, Any]:
    return {"poll": polls.publish_results(actor, data.poll_id, data.published)}


def _poll_vote(actor: User, data: VoteIn) -> dict[str, Any]:
    return polls.vote(actor, data.poll_id, data.option_ids)


def _poll_results(actor: User, data: PollIn) -> dict[str, Any]:
    return {"results": polls.get_results(actor, data.poll_id)}


def _slides_present(actor: User, data: PresentIn) -> dict[str, Any]:
    return {
        "presentation": presentations.present(actor, data.schedule_id, data.slide_id, data.page)
    }


def _slides_turn(actor: User, data: PageIn) -> dict[str, Any]:
    return {"presentation": presentations.turn_page(actor, data.schedule_id, data.page)}


def _slides_co_present(actor: User, data: CoPresentIn) -> dict[str, Any]:
    return {"presentation": presentations.set_co_presenting(actor, data.schedule_id, data.allowed)}


def _slides_state(actor: User, data: ScheduleIn) -> dict[str, Any]:
    return {"presentation": presentations.state(actor, data.schedule_id)}


def _board_stroke(actor: User, data: StrokeIn) -> dict[str, Any]:
    return {"stroke": presentations.add_stroke(actor, data.schedule_id, data.stroke)}


def _board_strokes(actor: User, data: StrokesIn) -> dict[str, Any]:
    return {
        "strokes": presentations.list_strokes(actor, data.schedule_id, data.slide_id, data.page)
    }


def _board_undo(actor: User, data: ScheduleIn) -> dict[str, Any]:
    return {"stroke_ids": presentations.undo(actor, data.schedule_id)}


def _board_erase(actor: User, data: EraseIn) -> dict[str, Any]:
    return {"stroke_ids": presentations.erase_stroke(actor, data.schedule_id, data.stroke_id)}


def _board_clear(actor: User, data: ScheduleIn) -> dict[str, Any]:
    return {"removed": presentations.clear_page(actor, data.schedule_id)}


# Client-to-server events answered by one core call: name -> (payload model, work).
EVENTS: dict[str, tuple[type[BaseModel], Callable[[User, Any], dict[str, Any]]]] = {
    "presence": (ScheduleIn, _presence),
    "chat:send": (ChatSendIn, _chat_send),
    "chat:history": (HistoryIn, _chat_history),
    "chat:delete": (MessageIn, _chat_delete),
    "chat:mute": (MuteIn, _chat_mute),
    "poll:create": (PollCreateIn, _poll_create),
    "poll:list": (ScheduleIn, _poll_list),
    "poll:open": (PollIn, _poll_open),
    "poll:close": (PollIn, _poll_close),
    "poll:publish": (PublishIn, _poll_publish),
    "poll:vote": (VoteIn, _poll_vote),
    "poll:results": (PollIn, _poll_results),
    "slides:state": (ScheduleIn, _slides_state),
    "slides:present": (PresentIn, _slides_present),
    "slides:turn": (PageIn, _slides_turn),
    "slides:co-present": (CoPresentIn, _slides_co_present),
    "board:stroke": (StrokeIn, _board_stroke),
    "board:strokes": (StrokesIn, _board_strokes),
    "board:undo": (ScheduleIn, _board_undo),
    "board:erase": (EraseIn, _board_erase),
    "board:clear": (ScheduleIn, _board_clear),
}


# --- joining the class's meeting over the socket (the 09:00 rush) -------------------------


def _on_the_portals_address() -> Any:
    """A request context on the portal's public address (BASE_URL) for the backends' join:
    a plugin builds its join target's URLs with url_for(_external=True) (the bundled SFU
    does), which outside a request has no host; the REST join has its request's."""
    app = current_flask_app()
    return app.test_request_context(base_url=app.config["BASE_URL"])


def serve_joins(batch: list[tuple[_Socket | None, Any]]) -> list[dict[str, Any]]:
    """The acks of `class:join` events that arrived together (RealtimeServer._joins): each
    socket's token checked again (two queries for the batch), then the core's one join rule
    for them all (meetings.join_classes: one query, one attendance upsert) and one commit.
    Each ack is exactly POST /api/schedules/<id>/join's body (plus "ok"), or that join's own
    refusal with the REST code; one refused join never fails the others."""
    answers: list[dict[str, Any] | None] = [None] * len(batch)
    checked: list[tuple[int, dict[str, Any], int]] = []  # (index, claims, schedule id)
    for n, (state, data) in enumerate(batch):
        try:
            if state is None:
                raise NotAuthenticated("connect again")
            if state.guest_token is not None:
                # A guest's socket is answered as for every other non-chat event (it joins
                # through the guest join of its invite page).
                _guest_work(state.guest_token, ScheduleIn, serve_joins, data)
            checked.append((n, state.claims, _parse(ScheduleIn, data).schedule_id))
        except PortalError as exc:
            answers[n] = _error(exc)
    joins: list[tuple[User, int]] = []
    joining: list[int] = []
    try:
        verdicts = check_claims_many([claims for _, claims, _ in checked]) if checked else []
        for (n, _, schedule_id), verdict in zip(checked, verdicts, strict=True):
            if isinstance(verdict, PortalError):
                answers[n] = _error(verdict)
            else:
                joins.append((verdict, schedule_id))
                joining.append(n)
        with _on_the_portals_address():
            outcomes = meetings.join_classes(joins)
        # Read before the commit expires the users (the site's language, read once per
        # transaction, for those without their own): a refusal is said in the joiner's.
        languages = [recipient_locale(joiner) for joiner, _ in joins]
        unit_of_work.commit()
    except Exception as exc:  # the database is down: every join still waiting fails alike
        db.session.rollback()
        if not isinstance(exc, PortalError):
            log.exception("live joins failed")
        failed = _error(exc) if isinstance(exc, PortalError) else _internal_error()
        return [answer or failed for answer in answers]
    for n, language, outcome in zip(joining, languages, outcomes, strict=True):
        answers[n] = (
            _error(outcome, language)
            if isinstance(outcome, PortalError)
            else {"ok": True, **join_target_body(outcome)}
        )
    return [answer or _internal_error() for answer in answers]


@dataclass(slots=True)
class _RoomJoin:
    index: int  # in the batch
    sid: str
    actor: User
    data: JoinIn
    locale: str


def serve_room_joins(batch: list[tuple[str, _Socket, Any]]) -> list[dict[str, Any]]:
    """The acks of room `join` events of user sockets that arrived together
    (RealtimeServer._room_joins), each the answer that socket's join alone would get: the
    tokens checked again (two queries for the batch), then per occurrence one access query
    for its joiners (chat.panel_standings) and its chat page, polls, mutes, state and
    presented page read once, the presence entries added in one Redis round trip, one
    attendance statement per running class and one commit. A refused join (not enrolled,
    blocked) gets its own refusal and never fails the others."""
    answers: list[dict[str, Any] | None] = [None] * len(batch)
    try:
        verdicts = check_claims_many([state.claims for _, state, _ in batch])
        rooms: dict[int, list[_RoomJoin]] = {}
        for n, ((sid, _state, data), verdict) in enumerate(zip(batch, verdicts, strict=True)):
            if isinstance(verdict, PortalError):
                answers[n] = _error(verdict)
                continue
            locale = recipient_locale(verdict)
            try:
                with force_locale(locale):
                    parsed = _parse(JoinIn, data)
            except PortalError as exc:
                answers[n] = _error(exc, locale)
                continue
            rooms.setdefault(parsed.schedule_id, []).append(
                _RoomJoin(n, sid, verdict, parsed, locale)
            )
        admitted: list[tuple[Schedule, list[tuple[_RoomJoin, bool]]]] = []
        for schedule_id, joins in rooms.items():
            schedule, standings = chat.panel_standings(schedule_id, [j.actor for j in joins])
            let_in: list[tuple[_RoomJoin, bool]] = []
            for join in joins:
                try:
                    with force_locale(join.locale):
                        manager = chat.require_panel_standing(
                            join.actor, schedule, standings.get(join.actor.id)
                        )
                except PortalError as exc:
                    answers[join.index] = _error(exc, join.locale)
                    continue
                let_in.append((join, manager))
            if schedule is not None and let_in:
                admitted.append((schedule, let_in))
        bodies: list[tuple[int, dict[str, Any]]] = []
        for schedule, let_in in admitted:
            viewers = [(join.actor, manager) for join, manager in let_in]
            pages: dict[tuple[int | None, int], tuple[list[dict[str, Any]], bool]] = {}
            for join, _manager in let_in:
                key = (join.data.after_id, join.data.limit)
                if key not in pages:
                    pages[key] = chat.history_of(schedule, after_id=key[0], limit=key[1])
            poll_lists = polls.polls_for(schedule, viewers)
            muted = chat.muted_among(
                schedule.class_id, [join.actor.id for join, manager in let_in if not manager]
            )
            state = meetings.occurrence_state(schedule.id)
            shown = presentations.states_for(schedule, viewers)
            for (join, manager), poll_list, presentation in zip(
                let_in, poll_lists, shown, strict=True
            ):
                messages, has_more = pages[join.data.after_id, join.data.limit]
                bodies.append(
                    (
                        join.index,
                        {
                            "ok": True,
                            "schedule_id": schedule.id,
                            "state": state,
                            "manager": manager,
                            "muted": join.actor.id in muted,
                            "messages": messages,
                            "has_more": has_more,
                            "polls": poll_list,
                            "presentation": presentation,
                        },
                    )
                )
        live_state.presence_add_many(
            [
                (schedule.id, join.sid, _presence_entry(join.actor))
                for schedule, let_in in admitted
                for join, _ in let_in
            ]
        )
        # Presence is attendance: having the room open while the class runs is being there.
        for schedule, let_in in admitted:
            attendance.room_opened_many(schedule.id, [join.actor for join, _ in let_in])
        present = live_state.presence_lists([schedule.id for schedule, _ in admitted])
        unit_of_work.commit()
    except Exception as exc:  # the database or Redis is down: every join waiting fails alike
        db.session.rollback()
        if not isinstance(exc, PortalError):
            log.exception("live room joins failed")
        failed = _error(exc) if isinstance(exc, PortalError) else _internal_error()
        return [answer or failed for answer in answers]
    for n, body in bodies:
        answers[n] = {**body, "presence": present[body["schedule_id"]]}
    return [answer or _internal_error() for answer in answers]


def _presence_entry(actor: User) -> dict[str, Any]:
    return {"id": actor.id, "name": actor.name, "role": actor.role}


def _guest_work(token: str, model: type[BaseModel], work: Callable, data: Any, *extra: Any) -> Any:
    """A guest socket's event: only joining its one occurrence, its chat, and leaving."""
    guest, schedule = invites.guest_for_room_credential(token)
    parsed = _parse(model, data)
    if getattr(parsed, "schedule_id", schedule.id) != schedule.id:
        raise NotFound("no such class occurrence")  # never another room, nothing revealed
    if work is _guest_join:
        (sid,) = extra
        return _guest_join(sid, guest, parsed)
    if work is _chat_send:
        return _guest_chat_send(guest, parsed)
    if work is _leave:
        (sid,) = extra
        return _leave(sid, None, parsed)
    raise Forbidden(_("a guest can follow the class and its chat, nothing more"), code="guest")


# --- announcements from the core -------------------------------------------------------


def _on_live_event(
    _sender: Any,
    *,
    event: str,
    payload: dict[str, Any],
    schedule_id: int | None,
    audience: str,
    user_id: int | None,
    **_: Any,
) -> None:
    if audience == "user":
        target = user_room(int(user_id or 0))
    elif audience == "guest":
        target = guest_room(int(user_id or 0))
    elif audience == "guests":
        target = guests_room(int(schedule_id or 0))
    elif audience == "managers":
        target = managers_room(int(schedule_id or 0))
    else:
        target = room(int(schedule_id or 0))
    try:
        emitter().emit(event, payload, target)
    except (
        Exception
    ) as exc:  # the change is committed; a dead message queue must not undo the request
        log.warning("live event %s to %s not delivered: %s", event, target, exc)


def _on_presence_changed(_sender: Any, *, schedule_id: int, **_: Any) -> None:
    try:
        emitter().presence_changed(schedule_id)
    except Exception as exc:  # committed already; a dead message queue must not undo it
        log.warning("presence of occurrence %s not announced: %s", schedule_id, exc)


def cut_off(user_id: int, *, class_id: int | None, code: str, message: str) -> int:
    """Take the user out of the live panels of one class (or all, class_id None), on every
    realtime process, at once. Returns how many panel sockets were cut off."""
    entries = live_state.user_sockets(user_id)
    if class_id is not None and entries:
        in_class = set(
            db.session.execute(
                db.select(Schedule.id).where(
                    Schedule.id.in_({s for s, _ in entries}), Schedule.class_id == class_id
                )
            ).scalars()
        )
        entries = [(s, sid) for s, sid in entries if s in in_class]
    out = emitter()
    for schedule_id, sid in entries:
        out.emit("removed", {"schedule_id": schedule_id, "code": code, "message": message}, sid)
        out.leave_room(sid, room(schedule_id))
        out.leave_room(sid, managers_room(schedule_id))
        leave_presence(schedule_id, sid)
    if class_id is None:
        for sid in {sid for _, sid in entries}:
            out.disconnect(sid)
    return len(entries)


def _on_block_changed(block: Any, *, blocked: bool, **_signal: Any) -> None:
    if not blocked:
        return
    in_class = block.scope == "class"
    with force_locale(_recipient_language(block.user_id)):
        message = (
            _("you are blocked from this class")
            if in_class
            else _("you are blocked on this portal")
        )
    cut_off(
        block.user_id,
        class_id=block.class_id if in_class else None,
        code="blocked",
        message=message,
    )


def _on_enrolment_changed(klass: Any, *, users: list[Any], enrolled: bool, **_signal: Any) -> None:
    if enrolled:
        return
    for user in users:
        with force_locale(_recipient_language(user.id)):
            message = _("you are no longer in this class")
        cut_off(user.id, class_id=klass.id, code="unenrolled", message=message)


def _recipient_language(user_id: int) -> str:
    """The page that shows a `removed` event prints its message as it comes, so it is said in
    the language of the user whose sockets are cut off (as emails are: theirs, else the
    site's), not in that of the admin or teacher whose request caused it."""
    return recipient_locale(db.session.get(User, user_id))


_connected = False
_connect_lock = threading.Lock()


def init_realtime(app: Flask) -> None:
    """Connect the core's signals once per process; each app gets its default emitter."""
    global _connected
    app.extensions.setdefault(EMITTER_KEY, default_emitter(app))
    with _connect_lock:
        if _connected:
            return
        live_state.live_event.connect(_on_live_event, weak=False)
        live_state.presence_changed.connect(_on_presence_changed, weak=False)
        signals.block_changed.connect(_on_block_changed, weak=False)
        signals.enrolment_changed.connect(_on_enrolment_changed, weak=False)
        _connected = True
