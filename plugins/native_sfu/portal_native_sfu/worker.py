"""One SFU worker process: an asyncio loop serving JSON requests on a Unix socket.

Run as `python -m portal_native_sfu.worker --socket PATH --lock PATH`. The lock file makes
starting a worker idempotent: when another live process holds the lock, the new one exits
at once, so every Flask process may try to start the workers it needs.

Protocol: one JSON object per line each way, {"method": ..., "params": {...}} ->
{"ok": true, "result": ...} or {"ok": false, "error": {"code", "message"}}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from portal_native_sfu import internals
from portal_native_sfu.media import Limits, Room, SfuError

log = logging.getLogger("portal_native_sfu.worker")

MAX_REQUEST_BYTES = 1 << 20


class Worker:
    def __init__(self, *, recording_dir: Path | None, limits: Limits) -> None:
        self.rooms: dict[str, Room] = {}
        self.recording_dir = recording_dir
        self.limits = limits

    def room(self, room_id: str, *, create: bool = False, record: bool = False) -> Room:
        room = self.rooms.get(room_id)
        if room is None or (create and room.closed):
            if not create:
                raise SfuError("no_room", "this class is not running on the SFU")
            room = Room(
                room_id, record=record, recording_dir=self.recording_dir, limits=self.limits
            )
            self.rooms[room_id] = room
        return room

    async def handle(self, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {"pid": os.getpid(), "rooms": len(self.rooms)}
        if method == "ensure_room":
            room = self.room(params["room"], create=True, record=bool(params.get("record")))
            room.record = room.record or bool(params.get("record"))
            for key in ("max_publishers", "max_sessions_per_user"):
                if params.get(key):
                    room.limits = Limits(**{**vars(room.limits), key: int(params[key])})
            return room.describe()
        if method == "publish":
            room = self.room(params["room"])
            if params.get("mic_muted") and params.get("user_id") is not None:
                # The room may be new (a restarted worker): the portal's floor says muted.
                room.muted_users.add(int(params["user_id"]))
            session = await room.publish(
                params["sdp"],
                user_id=params.get("user_id"),
                label=params.get("label", ""),
                name=params.get("name", ""),
                ice_servers=params.get("ice_servers"),
            )
            return {
                "session": session.id,
                "etag": session.etag,
                "sdp": session.pc.localDescription.sdp,
            }
        if method == "subscribe":
            room = self.room(params["room"])
            session = await room.subscribe(
                params["sdp"],
                user_id=params.get("user_id"),
                publisher_id=params.get("publisher"),
                ice_servers=params.get("ice_servers"),
                name=params.get("name", ""),
            )
            return {
                "session": session.id,
                "etag": session.etag,
                "sdp": session.pc.localDescription.sdp,
                "publisher": session.publisher_id,
            }
        if method == "session":
            room = self.room(params["room"])
            found = room.sessions.get(params["session"])
            if found is None:
                raise SfuError("no_session", "no such session")
            return found.describe() | {"etag": found.etag}
        if method == "end_session":
            room = self.room(params["room"])
            return {"ended": await room.close_session(params["session"], reason="deleted")}
        if method == "end_user_sessions":
            room = self.room(params["room"])
            ids = [
                s.id
                for s in room.sessions.values()
                if s.user_id == params["user_id"] and s.role == params.get("role", s.role)
            ]
            for session_id in ids:
                await room.close_session(session_id, reason="permission withdrawn")
            return {"ended": len(ids)}
        if method == "enforce_floor":
            room = self.room(params["room"])
            ended = await room.enforce_floor(
                int(params["user_id"]),
                mic=bool(params.get("mic")),
                camera=bool(params.get("camera")),
                screen=bool(params.get("screen")),
                mic_muted=bool(params.get("mic_muted")),
            )
            return {"ended": ended, "muted_users": sorted(room.muted_users)}
        if method == "room":
            return self.room(params["room"]).describe()
        if method == "close_room":
            open_room = self.rooms.get(params["room"])
            if open_room is None:
                return {"closed": False}
            await open_room.close()
            return {"closed": True}
        if method == "take_recordings":
            open_room = self.rooms.get(params["room"])
            if open_room is None:
                return {"recordings": []}
            taken, open_room.finished_recordings = open_room.finished_recordings, []
            if open_room.closed:
                del self.rooms[open_room.id]
            return {"recordings": taken}
        if method == "stats":
            tasks = [t for t in asyncio.all_tasks() if not t.done()]
            return {
                "rooms": {room_id: room.describe() for room_id, room in self.rooms.items()},
                "tasks": len(tasks),
                "pid": os.getpid(),
            }
        raise SfuError("unknown_method", "unknown method %(method)s", method=repr(method))

    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                reply: dict[str, Any]
                try:
                    request = json.loads(line)
                    result = await self.handle(request["method"], request.get("params") or {})
                    reply = {"ok": True, "result": result}
                except SfuError as exc:
                    reply = {
                        "ok": False,
                        "error": {"code": exc.code, "message": exc.message, "values": exc.values},
                    }
                except Exception as exc:
                    log.exception("request failed")
                    reply = {"ok": False, "error": {"code": "internal", "message": str(exc)}}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def shutdown(self) -> None:
        for room in list(self.rooms.values()):
            with contextlib.suppress(Exception):
                await room.close()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    # A worker started by a Flask dev server must not outlive it.
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(1.0)


async def serve(socket_path: Path, worker: Worker, *, exit_with_parent: int | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    server = await asyncio.start_unix_server(
        worker.serve_client, path=str(socket_path), limit=MAX_REQUEST_BYTES
    )
    os.chmod(socket_path, 0o600)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = (
        asyncio.ensure_future(_watch_parent(exit_with_parent, stop)) if exit_with_parent else None
    )
    log.info("SFU worker %d listening on %s", os.getpid(), socket_path)
    async with server:
        await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await worker.shutdown()
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="portal SFU media worker")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--lock", required=True, type=Path)
    parser.add_argument("--recording-dir", type=Path)
    parser.add_argument("--exit-with-parent", type=int)
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    parser.add_argument("--media-timeout", type=float, default=30.0)
    parser.add_argument("--pli-interval", type=float, default=0.5)
    parser.add_argument("--consent-interval", type=float, default=5.0)
    parser.add_argument("--consent-failures", type=int, default=6)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s sfu-worker[%(process)d] %(levelname)s %(message)s",
    )
    # aioice logs every candidate-pair check at INFO: far too much for a long-running worker.
    logging.getLogger("aioice").setLevel(logging.WARNING)
    args.lock.parent.mkdir(parents=True, exist_ok=True)
    lock_file = open(args.lock, "a+")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("another worker holds %s; exiting", args.lock)
        return 0
    internals.install_passthrough_decoders()
    internals.set_consent_timing(args.consent_interval, args.consent_failures)
    limits = Limits(
        connect_timeout=args.connect_timeout,
        media_timeout=args.media_timeout,
        pli_interval=args.pli_interval,
    )
    worker = Worker(recording_dir=args.recording_dir, limits=limits)
    asyncio.run(serve(args.socket, worker, exit_with_parent=args.exit_with_parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
