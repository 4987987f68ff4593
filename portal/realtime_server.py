"""The realtime server itself: python-socketio's AsyncServer over ASGI (uvicorn), its room
fan-out, the batches its pool serves, and its garbage-collector tuning. What the events do,
the rooms and the emitters are portal/realtime.py; only `portal serve`, `portal realtime`
and tests import this module, so a web worker, a Celery worker or a CLI command never loads
python-socketio's server, its clients or aiohttp (bench/boot_cpu.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket as socket_module
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import socketio
from engineio import packet as eio_packet  # type: ignore[import-untyped]
from flask import Flask
from pydantic import BaseModel
from socketio import packet as sio_packet

from portal.core import invites, live_state, unit_of_work
from portal.core.errors import NotAuthenticated, PortalError
from portal.extensions import db
from portal.i18n import force_locale, recipient_locale
from portal.realtime import (
    _KEPT_CLAIMS,
    EMITTER_KEY,
    EVENTS,
    NAMESPACE,
    JoinIn,
    LocalEmitter,
    RedisEmitter,
    ScheduleIn,
    _check_claims,
    _error,
    _guest_join,
    _guest_work,
    _internal_error,
    _leave,
    _parse,
    _Socket,
    check_connects,
    decode_access_token,
    default_emitter,
    guest_room,
    guests_room,
    leave_presence,
    managers_room,
    room,
    send_presence,
    serve_joins,
    serve_room_joins,
    user_room,
)

log = logging.getLogger("portal.realtime")

# The largest Socket.IO message a client may send (a board stroke batch, a chat message).
MAX_MESSAGE_BYTES = 1_000_000
# A room's presence window (REALTIME_PRESENCE_COALESCE_SECONDS) is per this many people in it.
PRESENCE_PEOPLE_PER_WINDOW = 10


class _FanOutManager(socketio.AsyncManager):
    """Room emits handed to each socket's Engine.IO queue directly. python-socketio encodes
    a room emit once, then starts one asyncio task per recipient to queue the same packet
    and waits for them all: at 200 recipients per chat message (and 100 per class start)
    the tasks cost more CPU than the queueing. Queueing on an Engine.IO socket does not
    wait (its queue is unbounded), so a loop over the recipients does the same work in the
    same order. Emits with an acknowledgement callback keep the library's path."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            return await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
            )
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        packets = [
            eio_packet.Packet(eio_packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        # A copy: closing a socket whose ping timed out changes the rooms while we queue.
        for sid, eio_sid in list(self.get_participants(namespace, to or room)):
            if sid in skip:
                continue
            for message in packets:
                try:
                    await self.server._send_eio_packet(eio_sid, message)
                except Exception:  # one closed socket must not cost the others the message
                    log.debug("live delivery to %s failed", sid, exc_info=True)


class _RedisFanOutManager(socketio.AsyncRedisManager, _FanOutManager):
    """Rooms shared through Redis pub/sub; each process's own sockets served as above
    (AsyncPubSubManager hands a received emit to the next manager in line: _FanOutManager)."""


class _Batches:
    """Work that arrives while a batch is being served waits, and is then served together as
    the next batch: `serve(items)` answers one result per item (one pool hop, one
    transaction for them all), at most `most` items at a time. In a rush (thousands of
    waiting pages connecting, then joining on the pushed start) the per-hop and
    per-transaction costs are paid per batch instead of per socket. A batch that raises
    fails each of its items alike (the database is down)."""

    def __init__(self, serve: Callable[[list[Any]], Awaitable[list[Any]]], most: int) -> None:
        self.serve = serve
        self.most = max(1, most)
        self.waiting: list[tuple[Any, asyncio.Future]] = []
        self.serving: asyncio.Future | None = None

    async def submit(self, item: Any) -> Any:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if self.serving is None:
            self.serving = asyncio.ensure_future(self._serve_batches())
        return await future

    async def _serve_batches(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[: self.most], self.waiting[self.most :]
                try:
                    results = await self.serve([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # a client gone meanwhile cancelled its wait
                        future.set_result(result)
        finally:
            self.serving = None


def gc_thresholds(setting: Any) -> tuple[int, ...] | None:
    """PORTAL_REALTIME_GC_THRESHOLDS ("50000,20,10": gc.set_threshold's one to three
    numbers) as numbers; empty means Python's own (no tuning)."""
    text = str(setting or "").strip()
    if not text:
        return None
    try:
        numbers = tuple(int(part) for part in text.split(","))
    except ValueError:
        numbers = ()
    if not 1 <= len(numbers) <= 3 or any(n < 0 for n in numbers):
        raise ValueError(
            f"PORTAL_REALTIME_GC_THRESHOLDS must be one to three counts such as "
            f"50000,20,10, not {setting!r}"
        )
    return numbers


def tune_gc(thresholds: tuple[int, ...] | None) -> None:
    """The realtime process's garbage collector, once it has started: with 5,000 sockets a
    full collection walked every socket's objects (~0.9 s CPU each, a quarter of the
    process's CPU in the rush). What start-up made lives as long as the process, so it is
    frozen out of every later collection, and collections come less often; garbage cycles
    still go within a bounded number of allocations (docs/live.md)."""
    if thresholds is None:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


class RealtimeServer:
    """The async Socket.IO server of one Flask app. `asgi(with_web=True)` also serves the
    app's pages and API (through a2wsgi's thread pool) on the same port: the embedded
    default, which needs no Redis because the core's announcements are handed over in
    process (LocalEmitter). With PORTAL_REDIS_URL, sockets on several realtime processes
    share rooms through Redis pub/sub and Flask workers publish with a RedisEmitter."""

    def __init__(
        self, app: Flask, *, workers: int | None = None, owns_process: bool = False
    ) -> None:
        self.app = app
        # The process is this server's alone (`portal realtime` / `portal serve`): its
        # garbage collector is tuned at start-up (tune_gc), never a test process's.
        self.gc_thresholds = (
            gc_thresholds(app.config.get("REALTIME_GC_THRESHOLDS")) if owns_process else None
        )
        redis_url = app.config.get("REDIS_URL")
        channel = app.config.get("SOCKETIO_CHANNEL") or live_state.DEFAULT_CHANNEL
        manager = _RedisFanOutManager(redis_url, channel=channel) if redis_url else _FanOutManager()
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=self._origin_allowed,
            # One client's events in order; other clients are not held up (one reader each).
            async_handlers=False,
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            # Sized for thousands of idle waiting pages on a busy machine (docs/live.md):
            # each ping is a packet per socket per interval, and a process starved of CPU
            # for longer than the timeout would drop every socket it holds at once.
            ping_interval=float(app.config.get("REALTIME_PING_INTERVAL_SECONDS") or 25),
            ping_timeout=float(app.config.get("REALTIME_PING_TIMEOUT_SECONDS") or 60),
            logger=False,
            engineio_logger=False,
        )
        self.pool = ThreadPoolExecutor(
            max_workers=workers or int(app.config.get("REALTIME_WORKERS") or 16),
            thread_name_prefix="realtime",
        )
        self.sockets: dict[str, _Socket] = {}
        # The revocation and account checks of connects arriving together (check_connects).
        self._connects = _Batches(lambda batch: self._run(check_connects, batch), most=1000)
        # Joins of the class arriving together (serve_joins); PORTAL_REALTIME_JOIN_BATCH.
        self._joins = _Batches(
            lambda batch: self._run(serve_joins, batch),
            most=int(app.config.get("REALTIME_JOIN_BATCH") or 1),
        )
        # Room joins of user sockets arriving together (serve_room_joins), as many at once.
        self._room_joins = _Batches(
            lambda batch: self._run(serve_room_joins, batch),
            most=int(app.config.get("REALTIME_JOIN_BATCH") or 1),
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue | None = None
        self._early: list[tuple] = []
        self._early_lock = threading.Lock()
        # Presence announcements, coalesced per room (announce_presence).
        self.presence_window = float(app.config.get("REALTIME_PRESENCE_COALESCE_SECONDS") or 0)
        self.presence_window_most = float(
            app.config.get("REALTIME_PRESENCE_COALESCE_MOST_SECONDS") or self.presence_window
        )
        self._presence_out = RedisEmitter(redis_url, channel) if redis_url else LocalEmitter(self)
        self._presence_changed: set[int] = set()
        self._presence_rounds: dict[int, asyncio.Task] = {}
        self._register()

    # -- plumbing --

    def asgi(self, *, with_web: bool = True) -> socketio.ASGIApp:
        other = None
        if with_web:
            from a2wsgi import WSGIMiddleware

            threads = int(self.app.config.get("WEB_THREADS") or 16)
            # a2wsgi types the app with its own Environ/StartResponse, which Flask's WSGI
            # signature (the standard one) does not structurally match.
            other = WSGIMiddleware(self.app, workers=threads)  # type: ignore[arg-type]
        return socketio.ASGIApp(
            self.sio, other_asgi_app=other, on_startup=self.startup, on_shutdown=self.shutdown
        )

    async def startup(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._outbox = asyncio.Queue()
        with self._early_lock:
            for item in self._early:
                self._outbox.put_nowait(item)
            self._early.clear()
        self._drainer = asyncio.create_task(self._drain())
        self.app.extensions[EMITTER_KEY] = LocalEmitter(self)
        tune_gc(self.gc_thresholds)

    async def shutdown(self) -> None:
        if isinstance(self.app.extensions.get(EMITTER_KEY), LocalEmitter):
            self.app.extensions[EMITTER_KEY] = default_emitter(self.app)
        self._drainer.cancel()
        for task in list(self._presence_rounds.values()):
            task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def push(self, item: tuple) -> None:
        """Queue an emit / leave / disconnect from any thread (FIFO)."""
        loop = self.loop
        if loop is None or self._outbox is None:
            with self._early_lock:
                self._early.append(item)
            return
        loop.call_soon_threadsafe(self._outbox.put_nowait, item)

    async def _drain(self) -> None:
        assert self._outbox is not None
        while True:
            item = await self._outbox.get()
            try:
                if item[0] == "emit":
                    _, event, payload, to = item
                    await self.sio.emit(event, payload, to=to, namespace=NAMESPACE)
                elif item[0] == "leave":
                    await self.sio.leave_room(item[1], item[2], namespace=NAMESPACE)
                elif item[0] == "disconnect":
                    await self.sio.disconnect(item[1], namespace=NAMESPACE)
                elif item[0] == "presence":
                    self.announce_presence(item[1])
            except Exception:
                log.exception("live delivery %s failed", item[0])

    def announce_presence(self, schedule_id: int) -> None:
        """The room's presence changed (on the event loop): tell the room who is there.
        A change in a quiet room is announced at once; further changes within the window
        wait for its end and are announced together, with the list as it is when sent.
        A change made while a list is being read or sent is always followed by another
        round, so the last announcement lists who is there after the last change. At 200
        joins in a few seconds this is a handful of lists instead of 200.

        The window grows with the room (presence_pause): a list of n people goes to about n
        pages, so one round costs ~n x n, and rounds spaced ~n apart keep a filling room's
        presence cost ~n per second, however its joins are spread."""
        self._presence_changed.add(schedule_id)
        if schedule_id not in self._presence_rounds:
            self._presence_rounds[schedule_id] = asyncio.ensure_future(
                self._presence_rounds_of(schedule_id)
            )

    async def _presence_rounds_of(self, schedule_id: int) -> None:
        try:
            while schedule_id in self._presence_changed:
                self._presence_changed.discard(schedule_id)
                listed = 0
                try:
                    listed = await self._run(send_presence, schedule_id, self._presence_out)
                except Exception:
                    log.exception("presence of occurrence %s not announced", schedule_id)
                await asyncio.sleep(self.presence_pause(listed))  # the next round no sooner
        finally:
            self._presence_rounds.pop(schedule_id, None)

    def presence_pause(self, listed: int) -> float:
        """The wait after a room's announcement of `listed` people before its next one: the
        window per PRESENCE_PEOPLE_PER_WINDOW people listed (one window at least), at most
        the longest window (a 100-student room: a list every 3 s by default)."""
        windows = max(1.0, listed / PRESENCE_PEOPLE_PER_WINDOW)
        return min(self.presence_window * windows, max(self.presence_window_most, 0.0))

    def _origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """The portal's own pages only: its public BASE_URL, or the origin it was reached on.
        (Called for CORS headers too, where a request without Origin gets none.)"""
        if not origin:
            return False
        allowed = {
            urlsplit(self.app.config["BASE_URL"])
            ._replace(path="", query="", fragment="")
            .geturl()
            .rstrip("/")
        }
        realtime = self.app.config.get("REALTIME_URL") or ""
        host = environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST")
        if host and not realtime:
            scheme = (
                "https"
                if environ.get("HTTP_X_FORWARDED_PROTO") == "https"
                else environ.get("wsgi.url_scheme", "http")
            )
            allowed.add(f"{scheme}://{host}")
        return origin.rstrip("/") in allowed

    async def _check_connect(self, claims: dict[str, Any]) -> int | PortalError:
        """The socket's revocation and account check, done together with every other connect
        that arrives meanwhile (check_connects): in a rush of thousands of waiting pages,
        one pool hop and two queries per batch instead of per socket."""
        return await self._connects.submit(claims)

    def _in_app(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self.app.app_context():
            try:
                return fn(*args)
            finally:
                db.session.remove()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._in_app, fn, *args)

    @staticmethod
    def _answer(
        state: _Socket | None, model: type[BaseModel], work: Callable, data: Any, *extra: Any
    ) -> dict[str, Any]:
        """One event's ack: parse, check the socket's token again, run the core, commit."""
        locale: str | None = None
        try:
            if state is None:
                raise NotAuthenticated("connect again")
            if state.guest_token is not None:
                result = _guest_work(state.guest_token, model, work, data, *extra)
            else:
                actor = _check_claims(state.claims)
                locale = recipient_locale(actor)
                # Messages the core composes with their values are said in the user's language.
                with force_locale(locale):
                    result = work(*extra, actor, _parse(model, data))
            unit_of_work.commit()
            return {"ok": True, **(result or {})}
        except PortalError as exc:
            db.session.rollback()
            return _error(exc, locale)
        except Exception:
            db.session.rollback()
            log.exception("live event failed")
            return _internal_error()

    # -- handlers --

    async def _connect_guest(self, sid: str, token: str) -> None:
        def check() -> tuple[int, int] | PortalError:
            try:
                guest, schedule = invites.guest_for_room_credential(token)
                return guest.id, schedule.id
            except PortalError as exc:
                return exc

        result = await self._run(check)
        if isinstance(result, PortalError):
            raise socketio.exceptions.ConnectionRefusedError(result.message, {"code": result.code})
        guest_id, schedule_id = result
        self.sockets[sid] = _Socket(
            user_id=-guest_id, claims={}, guest_token=token, guest_schedule=schedule_id
        )
        await self.sio.enter_room(sid, guest_room(guest_id), namespace=NAMESPACE)
        await self.sio.enter_room(sid, guests_room(schedule_id), namespace=NAMESPACE)

    def _register(self) -> None:
        sio = self.sio

        @sio.on("connect")
        async def on_connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            guest_token = auth.get("guest_token") if isinstance(auth, dict) else None
            if guest_token:
                return await self._connect_guest(sid, str(guest_token))
            token = auth.get("token") if isinstance(auth, dict) else None
            if not token:
                cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
                name = self.app.config.get("JWT_ACCESS_COOKIE_NAME", "access_token_cookie")
                token = cookies[name].value if name in cookies else None
            if not token:
                raise socketio.exceptions.ConnectionRefusedError(
                    "sign in first", {"code": "not_authenticated"}
                )

            try:
                with self.app.app_context():  # the JWT settings; no database
                    claims = decode_access_token(str(token))
                result = await self._check_connect(claims)
            except PortalError as exc:
                result = exc
            if isinstance(result, PortalError):
                raise socketio.exceptions.ConnectionRefusedError(
                    result.message, {"code": result.code}
                )
            kept = {key: claims[key] for key in _KEPT_CLAIMS if key in claims}
            self.sockets[sid] = _Socket(user_id=result, claims=kept)
            await sio.enter_room(sid, user_room(result), namespace=NAMESPACE)

        @sio.on("disconnect")
        async def on_disconnect(sid: str, *_reason: Any) -> None:
            state = self.sockets.pop(sid, None)
            if state is None:
                return
            for schedule_id in list(state.schedules):
                await self._run(leave_presence, schedule_id, sid)

        @sio.on("join")
        async def on_join(sid: str, data: Any = None) -> dict[str, Any]:
            state = self.sockets.get(sid)
            # In the room before the history is read: a message stored meanwhile is then in
            # the history and pushed (the page drops the repeated id), never in neither.
            wanted = data.get("schedule_id") if isinstance(data, dict) else None
            early = room(wanted) if isinstance(wanted, int) and state is not None else None
            if (
                state is not None
                and state.guest_token is not None
                and wanted != state.guest_schedule
            ):
                early = None  # a guest's socket never enters another occurrence's room
            if early is not None:
                await sio.enter_room(sid, early, namespace=NAMESPACE)
            if state is not None and state.guest_token is None:
                # Served in batches with the room joins arriving meanwhile (a rush of
                # waiting pages opening, every page reconnecting after a restart).
                answer = await self._room_joins.submit((sid, state, data))
            else:
                answer = await self._run(self._answer, state, JoinIn, _guest_join, data, sid)
            if (
                not answer.get("ok")
                and early is not None
                and state is not None
                and wanted not in state.schedules
            ):
                await sio.leave_room(sid, early, namespace=NAMESPACE)
            if state is not None and answer.get("ok"):
                schedule_id = answer["schedule_id"]
                await sio.enter_room(sid, room(schedule_id), namespace=NAMESPACE)
                if answer["manager"]:
                    await sio.enter_room(sid, managers_room(schedule_id), namespace=NAMESPACE)
                state.schedules.add(schedule_id)
                self.announce_presence(schedule_id)
            return answer

        @sio.on("leave")
        async def on_leave(sid: str, data: Any = None) -> dict[str, Any]:
            state = self.sockets.get(sid)
            answer = await self._run(self._answer, state, ScheduleIn, _leave, data, sid)
            if state is not None and answer.get("ok"):
                schedule_id = answer["schedule_id"]
                await sio.leave_room(sid, room(schedule_id), namespace=NAMESPACE)
                await sio.leave_room(sid, managers_room(schedule_id), namespace=NAMESPACE)
                state.schedules.discard(schedule_id)
            return answer

        @sio.on("class:join")
        async def on_class_join(sid: str, data: Any = None) -> dict[str, Any]:
            # Served in batches with the joins arriving meanwhile (the pushed class:started
            # makes a whole class join at once).
            return await self._joins.submit((self.sockets.get(sid), data))

        for event, (model, work) in EVENTS.items():
            sio.on(event, self._handler(model, work))

    def _handler(self, model: type[BaseModel], work: Callable) -> Callable:
        async def handler(sid: str, data: Any = None) -> dict[str, Any]:
            return await self._run(self._answer, self.sockets.get(sid), model, work, data)

        return handler


def serve(
    app: Flask,
    host: str,
    port: int,
    *,
    with_web: bool = True,
    sock: socket_module.socket | None = None,
) -> None:
    """Run the realtime server (and, with_web, the app's pages and API) until stopped."""
    import uvicorn

    server = RealtimeServer(app, owns_process=True)
    config = uvicorn.Config(
        server.asgi(with_web=with_web),
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        ws="websockets-sansio",
        timeout_graceful_shutdown=3,
        # Idle waiting sockets are cheap; answer pings slowly enough not to matter.
        ws_ping_interval=None,
        # Bounded memory per socket: no frame larger than the largest message accepted.
        ws_max_size=MAX_MESSAGE_BYTES + 1024,
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)
