"""pluggy hooks of the native_sfu plugin."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.plugins import (
    BackendUnavailable,
    ClassInfo,
    FloorGrant,
    MeetingRecord,
    PeriodicJob,
    RecordingInfo,
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


ASSEMBLY_JOB = "native_sfu-assemble-recordings"
ASSEMBLY_EVERY_SECONDS = 120  # also picks up lessons whose job was lost with a worker
PENDING = "assembly_pending"  # meeting data: true until the assembly is ready or failed
REQUEST = "assembly_request"  # meeting data: {teacher_id, class_id, title} of the lesson
STATE = "assembly"  # meeting data: {state, percent, message, recording_id}
CLAIM_SECONDS = 30 * 60  # an assembling claim older than this was lost with its process


@hookimpl
def register_periodic_jobs(register) -> None:
    register(PeriodicJob(ASSEMBLY_JOB, ASSEMBLY_EVERY_SECONDS, assemble_pending_recordings))


def store_room_recordings(meeting: MeetingRecord, klass: ClassInfo) -> None:
    """Close the room (the worker finishes every segment file) and queue the assembly of
    the lesson's one recording in the background."""
    from portal_native_sfu.backend import pool

    room = meeting.backend_meeting_id
    pool().call(room, "close_room")
    pool().call(room, "take_recordings")  # the segments stay on disk for the assembly job
    queue_assembly(meeting.id, teacher_id=klass.teacher_id, class_id=klass.id, title=klass.title)


def queue_assembly(
    meeting_id: int, *, teacher_id: int | None = None, class_id: int | None = None, title: str = ""
) -> None:
    """Mark the lesson for assembly and run the job soon. A retry (no arguments) reuses
    what the first request named."""

    def mark(data: dict[str, Any]) -> None:
        if teacher_id is not None:
            data[REQUEST] = {"teacher_id": teacher_id, "class_id": class_id, "title": title}
        data[PENDING] = True
        data[STATE] = {"state": "queued", "percent": 0, "message": ""}

    services.update_meeting_data(meeting_id, mark)
    services.report_recording_progress(meeting_id, "queued")
    services.enqueue_job(ASSEMBLY_JOB)


def _claim(meeting_id: int) -> bool:
    """Take the lesson's assembly for this process (compare-and-set): a second worker or
    an overlapping run leaves it alone."""
    now = time.time()

    def claim(data: dict[str, Any]) -> bool:
        state = data.get(STATE) or {}
        if not data.get(PENDING):
            return False
        if state.get("state") == "assembling" and now - state.get("claimed_at", 0) < CLAIM_SECONDS:
            return False
        data[STATE] = {"state": "assembling", "percent": 0, "message": "", "claimed_at": now}
        return True

    claimed = bool(services.update_meeting_data(meeting_id, claim))
    if claimed:
        services.report_recording_progress(meeting_id, "assembling")
    return claimed


def _set_state(meeting_id: int, **state: Any) -> None:
    """Change the plugin's own assembly state (its /assembly endpoints) and report the
    result to the portal, which shows it on the class page."""

    def change(data: dict[str, Any]) -> dict[str, Any]:
        data[STATE] = {**(data.get(STATE) or {}), **state}
        if state.get("state") in ("ready", "failed"):
            data.pop(PENDING, None)
        return data[STATE]

    now = services.update_meeting_data(meeting_id, change)
    services.report_recording_progress(
        meeting_id, now.get("state", "assembling"), now.get("percent", 0), now.get("message", "")
    )


def _report_progress(meeting_id: int, percent: int) -> None:
    """The percent reaches the teacher's class page while the assembly goes on."""
    _set_state(meeting_id, percent=percent)
    services.checkpoint()


def assemble_pending_recordings() -> int:
    """The periodic job: assemble every ended SFU lesson waiting for it. Returns how many
    recordings it made."""
    from portal_native_sfu.backend import NAME

    made = 0
    for meeting in services.meetings_with_pending(NAME, PENDING, within_days=7):
        if meeting.status != "ended" or not meeting.backend_meeting_id:
            continue
        if not _claim(meeting.id):
            continue
        services.checkpoint()  # the claim and "assembling" are seen while the job runs
        try:
            made += assemble_lesson(meeting)
        except Exception as exc:  # kept for the teacher to see and retry
            log.exception("assembling the SFU recording of meeting %s failed", meeting.id)
            _set_state(meeting.id, state="failed", message=str(exc)[:500] or type(exc).__name__)
    return made


def assemble_lesson(meeting: MeetingRecord) -> int:
    """One WebM from the lesson's segments, stored and registered once (by room id); the
    segments are removed only after that succeeded."""
    from portal_native_sfu.assembly import assemble, find_segments, remove_segments
    from portal_native_sfu.backend import pool

    pending = services.get_meeting(meeting.id).data.get(REQUEST) or {}
    room_dir = pool().recording_dir / str(meeting.backend_meeting_id)
    segments = find_segments(room_dir) if room_dir.is_dir() else []
    if not segments:
        _set_state(meeting.id, state="ready", percent=100, message="nothing was recorded")
        return 0
    out = room_dir / "lesson.webm.part"
    length = assemble(
        segments,
        out,
        teacher_id=pending.get("teacher_id"),
        progress=lambda percent: _report_progress(meeting.id, percent),
    )
    key = services.new_file_key(f"recordings/{pending.get('class_id') or meeting.class_id}", "webm")
    services.store_file(key, out.read_bytes(), "video/webm")
    ref, _created = services.register_recording(
        meeting.id,
        RecordingInfo(
            record_id=str(meeting.backend_meeting_id),
            title=pending.get("title") or meeting.class_title,
            recorded_at=datetime.fromtimestamp(min(s.started_at for s in segments), UTC),
            duration_seconds=round(length),
            format="webm",
            published=True,
        ),
        storage_key=key,
    )
    _set_state(meeting.id, state="ready", percent=100, message="", recording_id=ref.id)
    out.unlink(missing_ok=True)
    remove_segments(segments)
    return 1


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
