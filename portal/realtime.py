"""Socket.IO events of the live class panel: chat, polls and presence.

A socket authenticates once, on connect, with the portal's access JWT (the `auth`
payload {"token": "..."} or the access cookie); every event then re-checks the token's
expiry and revocation, the account, membership and blocks before acting. Each class
occurrence (schedule) has a room `schedule:<id>` and a teachers' room
`schedule:<id>:managers`; each user has a room `user:<id>`. Events answer through the
Socket.IO acknowledgement: {"ok": true, ...} or {"ok": false, "error": {"code", "message"}}.

The domain work happens in portal.core.chat / portal.core.polls, which announce changes
through live_state.live_event; this module turns those announcements into emits (with a
Redis message queue, they reach sockets on every server process).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from flask import Flask, current_app, request
from flask_jwt_extended import decode_token
from flask_socketio import ConnectionRefusedError, join_room, leave_room
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portal.core import auth_tokens, chat, live_state, meetings, polls, signals
from portal.core.errors import NotAuthenticated, PortalError, ValidationFailed
from portal.core.models import Schedule, User
from portal.extensions import db, socketio

log = logging.getLogger(__name__)

NAMESPACE = "/"


def room(schedule_id: int) -> str:
    return f"schedule:{schedule_id}"


def managers_room(schedule_id: int) -> str:
    return f"schedule:{schedule_id}:managers"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


@dataclass
class _Socket:
    user_id: int
    claims: dict[str, Any]
    schedules: set[int] = field(default_factory=set)


# Sockets connected to this process (a socket lives on exactly one process).
_sockets: dict[str, _Socket] = {}
_sockets_lock = threading.Lock()


# --- authentication -------------------------------------------------------------------

def authenticate(token: str) -> tuple[User, dict[str, Any]]:
    """The user an access token belongs to, with the same checks as the REST API."""
    try:
        claims = decode_token(token)
    except Exception as exc:  # expired, bad signature, malformed: all mean "sign in again"
        raise NotAuthenticated("your session token is invalid or expired; sign in again",
                               code="invalid_token") from exc
    if claims.get("type") != "access":
        raise NotAuthenticated("an access token is required", code="invalid_token")
    return _check_claims(claims), claims


def _check_claims(claims: dict[str, Any]) -> User:
    if int(claims.get("exp", 0)) <= time.time():
        raise NotAuthenticated("your session has expired; sign in again", code="token_expired")
    if auth_tokens.is_revoked(claims):
        raise NotAuthenticated("you have signed out; sign in again", code="token_revoked")
    try:
        user = db.session.get(User, int(claims["sub"]))
    except (KeyError, ValueError):
        user = None
    if user is None or not user.is_active or auth_tokens.issued_before_cutoff(user, claims):
        raise NotAuthenticated("this account no longer exists or is disabled")
    return user


def _current() -> tuple[_Socket, User]:
    with _sockets_lock:
        state = _sockets.get(request.sid)
    if state is None:
        raise NotAuthenticated("connect again")
    return state, _check_claims(state.claims)


# --- event plumbing -------------------------------------------------------------------

# Database ids are 32-bit integers; larger numbers are refused before reaching the database.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ScheduleIn(_In):
    schedule_id: Id


class JoinIn(ScheduleIn):
    limit: int = Field(default=50, ge=1, le=chat.MAX_PAGE)


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


def _error(exc: PortalError) -> dict[str, Any]:
    return {"ok": False, "error": {"code": exc.code, "message": exc.message}}


def live_handler(event: str, model: type[BaseModel] | None = None) -> Callable:
    """Register a socket event: parse the payload, run it, answer through the ack."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def handler(data: Any = None) -> dict[str, Any]:
            try:
                args = []
                if model is not None:
                    try:
                        args.append(model.model_validate(data if isinstance(data, dict) else {}))
                    except ValidationError as exc:
                        problems = "; ".join(
                            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                            for e in exc.errors(include_url=False, include_input=False)[:5])
                        raise ValidationFailed(problems) from exc
                result = fn(*args)
                db.session.commit()
                return {"ok": True, **(result or {})}
            except PortalError as exc:
                db.session.rollback()
                return _error(exc)
            except Exception:
                db.session.rollback()
                log.exception("live event %s failed", event)
                return {"ok": False, "error": {"code": "internal_error", "message": "something went wrong"}}

        socketio.on(event)(handler)
        return handler

    return wrap


# --- connection -----------------------------------------------------------------------

@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    if not token:
        token = request.cookies.get(current_app.config.get("JWT_ACCESS_COOKIE_NAME", "access_token_cookie"))
    if not token:
        raise ConnectionRefusedError("sign in first", {"code": "not_authenticated"})
    try:
        user, claims = authenticate(str(token))
    except PortalError as exc:
        raise ConnectionRefusedError(exc.message, {"code": exc.code}) from None
    finally:
        db.session.rollback()
    with _sockets_lock:
        _sockets[request.sid] = _Socket(user_id=user.id, claims=claims)
    join_room(user_room(user.id))


@socketio.on("disconnect")
def on_disconnect(*_reason: Any) -> None:
    with _sockets_lock:
        state = _sockets.pop(request.sid, None)
    if state is None:
        return
    for schedule_id in state.schedules:
        _leave_presence(schedule_id, request.sid)


def _presence_payload(schedule_id: int) -> dict[str, Any]:
    return {"schedule_id": schedule_id, "users": live_state.presence_list(schedule_id)}


def _leave_presence(schedule_id: int, sid: str) -> None:
    if live_state.presence_remove(schedule_id, sid):
        socketio.emit("presence", _presence_payload(schedule_id), to=room(schedule_id))


@live_handler("join", JoinIn)
def on_join(data: JoinIn) -> dict[str, Any]:
    state, actor = _current()
    schedule = chat.require_panel_access(actor, data.schedule_id)
    manager = chat.is_manager(actor, schedule)
    messages, has_more = chat.history(actor, schedule.id, limit=data.limit)
    poll_list = polls.list_polls(actor, schedule.id)
    muted = not manager and chat.is_muted(actor.id, schedule.class_id)
    join_room(room(schedule.id))
    if manager:
        join_room(managers_room(schedule.id))
    with _sockets_lock:
        state.schedules.add(schedule.id)
    live_state.presence_add(schedule.id, request.sid, {"id": actor.id, "name": actor.name, "role": actor.role})
    presence = _presence_payload(schedule.id)
    socketio.emit("presence", presence, to=room(schedule.id))
    return {"schedule_id": schedule.id, "state": meetings.meeting_state(actor, schedule.id)["state"],
            "manager": manager, "muted": muted, "messages": messages,
            "has_more": has_more, "polls": poll_list, "presence": presence["users"]}


@live_handler("leave", ScheduleIn)
def on_leave(data: ScheduleIn) -> dict[str, Any]:
    state, _actor = _current()
    _leave_rooms(request.sid, data.schedule_id)
    with _sockets_lock:
        state.schedules.discard(data.schedule_id)
    _leave_presence(data.schedule_id, request.sid)
    return {}


def _leave_rooms(sid: str, schedule_id: int) -> None:
    leave_room(room(schedule_id), sid=sid, namespace=NAMESPACE)
    leave_room(managers_room(schedule_id), sid=sid, namespace=NAMESPACE)


@live_handler("presence", ScheduleIn)
def on_presence(data: ScheduleIn) -> dict[str, Any]:
    _state, actor = _current()
    schedule = chat.require_panel_access(actor, data.schedule_id)
    return _presence_payload(schedule.id)


# --- chat -----------------------------------------------------------------------------

@live_handler("chat:send", ChatSendIn)
def on_chat_send(data: ChatSendIn) -> dict[str, Any]:
    _state, actor = _current()
    return {"message": chat.post_message(actor, data.schedule_id, data.body)}


@live_handler("chat:history", HistoryIn)
def on_chat_history(data: HistoryIn) -> dict[str, Any]:
    _state, actor = _current()
    messages, has_more = chat.history(actor, data.schedule_id, before_id=data.before_id, limit=data.limit)
    return {"messages": messages, "has_more": has_more}


@live_handler("chat:delete", MessageIn)
def on_chat_delete(data: MessageIn) -> dict[str, Any]:
    _state, actor = _current()
    chat.delete_message(actor, data.message_id)
    return {"id": data.message_id}


@live_handler("chat:mute", MuteIn)
def on_chat_mute(data: MuteIn) -> dict[str, Any]:
    _state, actor = _current()
    schedule = chat.require_panel_access(actor, data.schedule_id)
    muted = chat.set_muted(actor, schedule.class_id, data.user_id, data.muted)
    return {"user_id": data.user_id, "muted": muted}


# --- polls ----------------------------------------------------------------------------

@live_handler("poll:create", PollCreateIn)
def on_poll_create(data: PollCreateIn) -> dict[str, Any]:
    _state, actor = _current()
    return {"poll": polls.create_poll(actor, data.schedule_id, question=data.question, options=data.options,
                                      multiple_choice=data.multiple_choice, anonymous=data.anonymous)}


@live_handler("poll:open", PollIn)
def on_poll_open(data: PollIn) -> dict[str, Any]:
    _state, actor = _current()
    return {"poll": polls.open_poll(actor, data.poll_id)}


@live_handler("poll:close", PollIn)
def on_poll_close(data: PollIn) -> dict[str, Any]:
    _state, actor = _current()
    return {"poll": polls.close_poll(actor, data.poll_id)}


@live_handler("poll:publish", PublishIn)
def on_poll_publish(data: PublishIn) -> dict[str, Any]:
    _state, actor = _current()
    return {"poll": polls.publish_results(actor, data.poll_id, data.published)}


@live_handler("poll:vote", VoteIn)
def on_poll_vote(data: VoteIn) -> dict[str, Any]:
    _state, actor = _current()
    return polls.vote(actor, data.poll_id, data.option_ids)


@live_handler("poll:results", PollIn)
def on_poll_results(data: PollIn) -> dict[str, Any]:
    _state, actor = _current()
    return {"results": polls.get_results(actor, data.poll_id)}


# --- announcements from the core -------------------------------------------------------

def _on_live_event(_sender: Any, *, event: str, payload: dict[str, Any], schedule_id: int | None,
                   audience: str, user_id: int | None, **_: Any) -> None:
    if audience == "user":
        target = user_room(int(user_id or 0))
    elif audience == "managers":
        target = managers_room(int(schedule_id or 0))
    else:
        target = room(int(schedule_id or 0))
    socketio.emit(event, payload, to=target, namespace=NAMESPACE)


def cut_off(user_id: int, *, class_id: int | None, code: str, message: str) -> int:
    """Take the user out of the live panels of one class (or all, class_id None), on every
    server process, at once. Returns how many panel sockets were cut off."""
    entries = live_state.user_sockets(user_id)
    if class_id is not None and entries:
        in_class = set(db.session.execute(
            db.select(Schedule.id).where(Schedule.id.in_({s for s, _ in entries}), Schedule.class_id == class_id)
        ).scalars())
        entries = [(s, sid) for s, sid in entries if s in in_class]
    for schedule_id, sid in entries:
        socketio.emit("removed", {"schedule_id": schedule_id, "code": code, "message": message},
                      to=sid, namespace=NAMESPACE)
        # Through the client manager: with Redis this reaches the process holding the socket.
        socketio.server.leave_room(sid, room(schedule_id), namespace=NAMESPACE)
        socketio.server.leave_room(sid, managers_room(schedule_id), namespace=NAMESPACE)
        _leave_presence(schedule_id, sid)
    if class_id is None:
        for sid in {sid for _, sid in entries}:
            socketio.server.disconnect(sid, namespace=NAMESPACE)
    return len(entries)


def _on_block_changed(block: Any, *, blocked: bool, **_: Any) -> None:
    if not blocked:
        return
    where = "from this class" if block.scope == "class" else "on this portal"
    cut_off(block.user_id, class_id=block.class_id if block.scope == "class" else None,
            code="blocked", message=f"you are blocked {where}")


def _on_enrolment_changed(klass: Any, *, user: Any, enrolled: bool, **_: Any) -> None:
    if not enrolled:
        cut_off(user.id, class_id=klass.id, code="unenrolled", message="you are no longer in this class")


_connected = False


def init_realtime(app: Flask) -> None:
    """Connect the core's signals once per process (handlers above are module-level)."""
    global _connected
    if "join" not in socketio.server.handlers.get(NAMESPACE, {}):
        raise RuntimeError("portal.realtime must be imported before socketio.init_app()")
    if _connected:
        return
    live_state.live_event.connect(_on_live_event, weak=False)
    signals.block_changed.connect(_on_block_changed, weak=False)
    signals.enrolment_changed.connect(_on_enrolment_changed, weak=False)
    _connected = True
