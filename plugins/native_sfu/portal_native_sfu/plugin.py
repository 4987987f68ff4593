"""pluggy hooks of the native_sfu plugin."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.plugins import (
    BackendUnavailable,
    ClassInfo,
    FloorGrant,
    MeetingRecord,
    RecordingInfo,
    RecordingRef,
    ScheduleInfo,
    hookimpl,
    services,
)

log = logging.getLogger(__name__)


@hookimpl
def register_meeting_backends(register) -> None:
    from portal_native_sfu.backend import BACKEND

    register(BACKEND)


@hookimpl
def register_blueprints(app) -> None:
    from portal_native_sfu.views import bp

    app.register_blueprint(bp)


@hookimpl
def register_api_paths(register) -> None:
    from portal_native_sfu.openapi import api_paths

    for path, item in api_paths().items():
        register(path, item)


@hookimpl
def class_ended(meeting: MeetingRecord, klass: ClassInfo, schedule: ScheduleInfo) -> None:
    """Close the room (idempotent) and turn its recordings into portal recordings."""
    from portal_native_sfu.backend import NAME

    if meeting.backend != NAME or not meeting.backend_meeting_id:
        return
    try:
        store_room_recordings(meeting, klass)
    except Exception:
        # Ending the class must not fail because a recording could not be saved.
        log.exception("could not store the SFU recordings of meeting %s", meeting.id)


@hookimpl
def floor_changed(
    schedule: ScheduleInfo, meeting: MeetingRecord | None, user_id: int, floor: FloorGrant
) -> None:
    """Enforce the floor at the SFU at once: close the student's streams that carry what was
    withdrawn and stop forwarding a muted microphone (the page alone is not trusted)."""
    from portal_native_sfu.backend import NAME, pool
    from portal_native_sfu.channel import WorkerError

    if (
        meeting is None
        or meeting.backend != NAME
        or not meeting.backend_meeting_id
        or meeting.status != "running"
    ):
        return
    try:
        pool().call(
            meeting.backend_meeting_id, "enforce_floor", {"user_id": user_id, **floor.as_dict()}
        )
    except WorkerError as exc:
        # No room on the worker (restarted, or never published): nothing to cut off; a new
        # publish is checked against the floor anyway.
        log.info("floor of user %s not applied on the SFU: %s", user_id, exc.message)
    except BackendUnavailable:
        log.warning(
            "SFU worker unreachable: the floor of user %s is enforced at the next publish", user_id
        )


def store_room_recordings(meeting: MeetingRecord, klass: ClassInfo) -> list[RecordingRef]:
    """Close the room, then store each stream's recording file in the portal's storage and
    register it as a recording of the meeting (one per published stream)."""
    from portal_native_sfu.backend import pool

    room = meeting.backend_meeting_id
    pool().call(room, "close_room")
    taken = pool().call(room, "take_recordings")["recordings"]
    rows = []
    for number, info in enumerate(taken, start=1):
        path = Path(info["path"])
        if not path.is_file():
            log.warning("SFU recording %s vanished before it could be stored", path)
            continue
        fmt = info.get("format") or path.suffix.lstrip(".")
        key = services.new_file_key(f"recordings/{klass.id}", fmt)
        services.store_file(key, path.read_bytes(), f"video/{fmt}")
        # One recording per published stream: name them when there are several.
        title = klass.title
        if len(taken) > 1:
            title = (
                f"{klass.title}: {info.get('name') or 'stream'} "
                f"({info.get('label') or 'camera'}) #{number}"
            )
        row, _created = services.register_recording(
            meeting.id,
            RecordingInfo(
                record_id=path.stem,
                title=title,
                recorded_at=datetime.fromtimestamp(info["started_at"], UTC),
                duration_seconds=info.get("duration_seconds"),
                format=fmt,
                published=True,
            ),
            storage_key=key,
        )
        path.unlink(missing_ok=True)
        rows.append(row)
    return rows


@click.group("sfu")
def sfu_group() -> None:
    """The bundled video server (SFU)."""


@sfu_group.command("serve")
@click.option("--workers", type=int, default=None, help="worker processes (default: one per core)")
@with_appcontext
def sfu_serve(workers: int | None) -> None:
    """Run the SFU workers in the foreground (production: under a process supervisor)."""
    import signal
    import time

    from portal_native_sfu.channel import pool_from_app

    pool = pool_from_app(current_app)
    if workers:
        pool.workers = workers
    pool.start_all()
    click.echo(f"SFU: {pool.workers} worker(s), sockets in {pool.run_dir}")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping:
            time.sleep(1)
            for index in range(pool.workers):
                if not pool.ping(index):
                    pool.start(index)
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop_started()


@hookimpl
def register_commands(cli) -> None:
    cli.add_command(sfu_group)
