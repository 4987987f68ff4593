"""Shared state of the live class panel: presence, per-room ordering locks, rate limits,
and the in-core signal through which chat/poll services announce what clients must see.

With PORTAL_REDIS_URL set, every piece lives in Redis so several server processes agree
(who is in a room, how many messages a user sent, which process may append to a room's
chat next); without it the state is kept in this process's memory (embedded default).
Keys are prefixed with SOCKETIO_CHANNEL so two installations can share one Redis.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from blinker import Namespace
from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from portal.core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "portal-live"
# Presence keys expire if nobody joins or leaves for this long (a crashed process cannot
# clean up after its sockets; this bounds how long a ghost can linger).
PRESENCE_TTL_SECONDS = 12 * 3600

_signals = Namespace()
# Sent after the change is committed. kwargs: event (str), payload (dict), schedule_id,
# audience: "room" (everyone in the occurrence's panel), "managers" (its teacher/admins),
# "user" (every socket of user_id), "guest" (the sockets of the guest whose id is user_id)
# or "guests" (every guest socket of the occurrence, waiting or admitted).
live_event = _signals.signal("live-event")
# Sent after the change is committed: the presence list of the occurrence (schedule_id)
# changed. The realtime side announces the list as it is when it sends (coalesced per room).
presence_changed = _signals.signal("presence-changed")


def publish(
    event: str,
    payload: dict[str, Any],
    *,
    schedule_id: int | None = None,
    audience: str = "room",
    user_id: int | None = None,
) -> None:
    """Push an event to the live pages once the current unit of work commits (never before)."""
    from portal.core import unit_of_work

    unit_of_work.after_commit(_sender(event, payload, schedule_id, audience, user_id))


def publish_committed(
    event: str, payload: dict[str, Any], *, schedule_id: int | None = None, audience: str = "room"
) -> None:
    """Push news of a change that is already committed, when the current unit of work ends,
    whether that commits or rolls back: what failed after the change does not undo it."""
    from portal.core import unit_of_work

    unit_of_work.at_transaction_end(_sender(event, payload, schedule_id, audience, None))


def _sender(
    event: str,
    payload: dict[str, Any],
    schedule_id: int | None,
    audience: str,
    user_id: int | None,
) -> Callable[[], Any]:
    """The push itself, for whichever moment the caller queues it."""
    return lambda: live_event.send(
        None,
        event=event,
        payload=payload,
        schedule_id=schedule_id,
        audience=audience,
        user_id=user_id,
    )


def announce_presence(schedule_id: int) -> None:
    """Tell the occurrence's live pages who is there now, once the unit of work commits."""
    from portal.core import unit_of_work

    unit_of_work.after_commit(lambda: presence_changed.send(None, schedule_id=schedule_id))


def channel() -> str:
    return str(current_app.config.get("SOCKETIO_CHANNEL") or DEFAULT_CHANNEL)


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("portal.live_redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        current_app.extensions["portal.live_redis"] = client
    return client


class _MemoryState:
    """Process-local fallback, one per app (tests create many apps in one process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.room_locks: dict[int, threading.Lock] = {}
        self.presence: dict[int, dict[str, dict[str, Any]]] = {}


def _memory() -> _MemoryState:
    state = current_app.extensions.get("portal.live_memory")
    if state is None:
        with _CREATE_LOCK:
            state = current_app.extensions.setdefault("portal.live_memory", _MemoryState())
    return state


_CREATE_LOCK = threading.Lock()


# --- ordering -------------------------------------------------------------------------


_HELD_ROOMS = "portal.held_room_locks"  # session.info: rooms this transaction has locked


def hold_room_lock(schedule_id: int, timeout: float = 10.0) -> None:
    """Serialise 'store then broadcast' per room, so the broadcast order is the id order
    on every process (Redis pub/sub keeps publish order per subscriber). The lock is held
    until the current transaction ends: its owner commits, the queued broadcasts leave, and
    only then may the next writer of the room store its row."""
    from portal.core import unit_of_work
    from portal.extensions import db

    held: set[int] = db.session.info.setdefault(_HELD_ROOMS, set())
    if schedule_id in held:
        return  # this transaction holds it already (a second message in one unit of work)
    client = _redis()
    if client is None:
        state = _memory()
        with state.lock:
            lock = state.room_locks.setdefault(schedule_id, threading.Lock())
        if not lock.acquire(timeout=timeout):
            raise ServiceUnavailable("the class chat is busy; try again", code="busy")
        release = lock.release
    else:
        shared = client.lock(
            f"{channel()}:lock:room:{schedule_id}", timeout=30, blocking_timeout=timeout
        )
        if not shared.acquire():
            raise ServiceUnavailable("the class chat is busy; try again", code="busy")

        def release() -> None:
            with contextlib.suppress(Exception):  # expired meanwhile: nothing left to release
                shared.release()

    def release_room() -> None:
        held.discard(schedule_id)
        release()

    held.add(schedule_id)
    unit_of_work.at_transaction_end(release_room)


# --- rate limits ----------------------------------------------------------------------


def _limiter() -> MovingWindowRateLimiter:
    limiter = current_app.extensions.get("portal.live_limiter")
    if limiter is None:
        uri = current_app.config.get("REDIS_URL") or "memory://"
        limiter = MovingWindowRateLimiter(storage_from_string(uri))
        current_app.extensions["portal.live_limiter"] = limiter
    return limiter


def allow(kind: str, user_id: int, limit: str) -> bool:
    """Count one action of `kind` by the user; False when it exceeds `limit` ("10 per 10
    seconds")."""
    return _limiter().hit(parse(limit), channel(), kind, str(user_id))


# --- presence -------------------------------------------------------------------------


def _presence_key(schedule_id: int) -> str:
    return f"{channel()}:presence:{schedule_id}"


def _user_key(user_id: int) -> str:
    return f"{channel()}:presence-user:{user_id}"


def presence_add(schedule_id: int, sid: str, user: dict[str, Any]) -> None:
    client = _redis()
    if client is None:
        state = _memory()
        with state.lock:
            state.presence.setdefault(schedule_id, {})[sid] = dict(user)
        return
    pipe = client.pipeline()
    pipe.hset(_presence_key(schedule_id), sid, json.dumps(user))
    pipe.expire(_presence_key(schedule_id), PRESENCE_TTL_SECONDS)
    pipe.sadd(_user_key(user["id"]), f"{schedule_id}|{sid}")
    pipe.expire(_user_key(user["id"]), PRESENCE_TTL_SECONDS)
    pipe.execute()


def presence_add_many(entries: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
    """presence_add for many (schedule id, sid, user) at once: one Redis round trip."""
    client = _redis()
    if client is None:
        for schedule_id, sid, user in entries:
            presence_add(schedule_id, sid, user)
        return
    pipe = client.pipeline(transaction=False)
    for schedule_id, sid, user in entries:
        pipe.hset(_presence_key(schedule_id), sid, json.dumps(user))
        pipe.sadd(_user_key(user["id"]), f"{schedule_id}|{sid}")
    for key in {_presence_key(s) for s, _, _ in entries} | {
        _user_key(u["id"]) for _, _, u in entries
    }:
        pipe.expire(key, PRESENCE_TTL_SECONDS)
    pipe.execute()


def presence_entry(schedule_id: int, sid: str) -> dict[str, Any] | None:
    """The user a socket stands for in a room, if it is there."""
    client = _redis()
    if client is None:
        state = _memory()
        with state.lock:
            entry = state.presence.get(schedule_id, {}).get(sid)
            return dict(entry) if entry is not None else None
    raw = client.hget(_presence_key(schedule_id), sid)
    return json.loads(raw) if raw is not None else None


def presence_remove(schedule_id: int, sid: str) -> bool:
    """Forget one socket in one room; True if it was there."""
    client = _redis()
    if client is None:
        state = _memory()
        with state.lock:
            return state.presence.get(schedule_id, {}).pop(sid, None) is not None
    raw = client.hget(_presence_key(schedule_id), sid)
    if raw is None:
        return False
    user = json.loads(raw)
    pipe = client.pipeline()
    pipe.hdel(_presence_key(schedule_id), sid)
    pipe.srem(_user_key(user["id"]), f"{schedule_id}|{sid}")
    pipe.execute()
    return True


def presence_list(schedule_id: int) -> list[dict[str, Any]]:
    """Who is in the room now, one entry per user (a user may have several tabs open)."""
    client = _redis()
    if client is None:
        state = _memory()
        with state.lock:
            entries = list(state.presence.get(schedule_id, {}).values())
    else:
        entries = [json.loads(v) for v in client.hvals(_presence_key(schedule_id))]
    return _one_per_user(entries)


def presence_lists(schedule_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """presence_list of several rooms: one Redis round trip."""
    client = _redis()
    wanted = sorted(set(schedule_ids))
    if client is None:
        return {schedule_id: presence_list(schedule_id) for schedule_id in wanted}
    pipe = client.pipeline(transaction=False)
    for schedule_id in wanted:
        pipe.hvals(_presence_key(schedule_id))
    found = pipe.execute()
    return {
        schedule_id: _one_per_user([json.loads(v) for v in values])
        for schedule_id, values in zip(wanted, found, strict=True)
    }


def _one_per_user(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    users: dict[int, dict[str, Any]] = {}
    for entry in entries:
        users.setdefault(entry["id"], entry)
    return sorted(users.values(), key=lambda u: (u.get("name", ""), u["id"]))


@contextlib.contextmanager
def presence_announcing(schedule_id: int, timeout: float = 5.0) -> Iterator[None]:
    """Held while one process reads a room's presence list and publishes it: with several
    processes, announcements then leave (and reach every subscriber) in the order their
    lists were read, so the last one anyone gets lists who is there after the last change.
    A lock that cannot be had in `timeout` does not hold the announcement back."""
    client = _redis()
    if client is None:  # one process: its realtime server sends each room's lists in turn
        yield
        return
    lock = client.lock(
        f"{channel()}:lock:presence:{schedule_id}", timeout=10, blocking_timeout=timeout
    )
    try:
        held = bool(lock.acquire())
    except Exception:  # Redis down: the publish will say so
        held = False
    if not held:
        log.warning("presence of occurrence %s announced without its ordering lock", schedule_id)
    try:
        yield
    finally:
        if held:
            with contextlib.suppress(Exception):  # expired meanwhile: nothing left to release
                lock.release()


def user_sockets(user_id: int) -> list[tuple[int, str]]:
    """(schedule_id, socket id) of every room the user is present in, on any process."""
    client = _redis()
    if client is None:
        state = _memory()
        with state.lock:
            return [
                (schedule_id, sid)
                for schedule_id, sids in state.presence.items()
                for sid, user in sids.items()
                if user["id"] == user_id
            ]
    out = []
    for member in client.smembers(_user_key(user_id)):
        schedule, _, sid = member.partition("|")
        out.append((int(schedule), sid))
    return out
