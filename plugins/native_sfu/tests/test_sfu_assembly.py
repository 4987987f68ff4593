"""One recording per lesson: the SFU's segment files (a teacher who refreshed mid-lesson, a
student given the floor, a worker that crashed) become one WebM with one video and one
audio stream of the lesson's length, in which every voice is heard at its time."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from portal_native_sfu.assembly import (
    SAMPLE_RATE,
    VP8_OPTIONS,
    assemble,
    find_segments,
    inset_box,
    write_sidecar,
)
from portal_native_sfu.plugin import assemble_pending_recordings
from sfu_helpers import assembled_recordings

from portal.core import storage
from portal.core.models import Recording
from portal.extensions import db

TEACHER, STUDENT = 1, 2
T0 = 1_800_000_000.0  # wall-clock start of the lesson


def write_segment(
    path: Path,
    *,
    start: float,
    seconds: float,
    tone_hz: float,
    video: bool,
    user_id: int,
    label: str = "camera",
    truncate: bool = False,
    color: tuple[int, int, int] | None = None,
    size: tuple[int, int] = (320, 240),
) -> Path:
    """A WebM like the worker's: VP8 video (if any; of one `color`, else a changing grey)
    and an Opus tone, timestamps from 0."""
    out = av.open(str(path), "w", format="webm")
    vstream = None
    width, height = size
    if video:
        vstream = out.add_stream("libvpx", rate=15, options=VP8_OPTIONS)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
    astream = out.add_stream("libopus", rate=SAMPLE_RATE)
    astream.layout = "mono"
    frames = round(seconds * 15)
    chunk = SAMPLE_RATE // 15
    for i in range(frames):
        if vstream is not None:
            shade = np.full((height, width, 3), (40 * i) % 255, dtype=np.uint8)
            if color is not None:
                shade[:] = color
            picture = av.VideoFrame.from_ndarray(shade, format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, 15)
            for packet in vstream.encode(picture):
                out.mux(packet)
        n = np.arange(i * chunk, (i + 1) * chunk)
        tone = (8000 * np.sin(2 * np.pi * tone_hz * n / SAMPLE_RATE)).astype(np.int16)
        sound = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        sound.sample_rate = SAMPLE_RATE
        sound.pts, sound.time_base = i * chunk, Fraction(1, SAMPLE_RATE)
        for packet in astream.encode(sound):
            out.mux(packet)
    for stream in [s for s in (vstream, astream) if s is not None]:
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()
    if truncate:  # a worker killed mid-write: the file stops without its index
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 3 // 4])
    write_sidecar(path, user_id=user_id, label=label, started_at=start)
    return path


def lesson_segments(room: Path, *, crashed: bool = False) -> None:
    """Teacher 0-4 s, refresh, teacher again 5-10 s; the student (floor) speaks 6-8 s."""
    room.mkdir(parents=True, exist_ok=True)
    write_segment(
        room / "a.webm",
        start=T0,
        seconds=4,
        tone_hz=440,
        video=True,
        user_id=TEACHER,
        truncate=crashed,
    )
    write_segment(
        room / "b.webm", start=T0 + 5, seconds=5, tone_hz=440, video=True, user_id=TEACHER
    )
    write_segment(
        room / "c.webm", start=T0 + 6, seconds=2, tone_hz=1500, video=False, user_id=STUDENT
    )


def probe(path: Path) -> dict:
    if shutil.which("ffprobe"):
        answer = subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        data = json.loads(answer.stdout)
        return {
            "kinds": sorted(s["codec_type"] for s in data["streams"]),
            "duration": float(data["format"]["duration"]),
        }
    with av.open(str(path)) as container:  # ffprobe not installed yet: the same libav probe
        return {
            "kinds": sorted(s.type for s in container.streams),
            "duration": container.duration / av.time_base,
        }


def energy_at(samples: np.ndarray, hz: float) -> float:
    """Share of the window's spectral energy within 30 Hz of `hz`."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    return float(spectrum[np.abs(freqs - hz) < 30].sum() / max(spectrum.sum(), 1e-9))


def decoded_audio(path: Path) -> np.ndarray:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    with av.open(str(path)) as container:
        parts = [
            f.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for f in resampler.resample(frame)
        ]
    return np.concatenate(parts)


@pytest.mark.parametrize("crashed", [False, True], ids=["clean", "crashed-worker"])
def test_one_file_with_the_lessons_length_and_every_voice(tmp_path, crashed):
    room = tmp_path / "room"
    lesson_segments(room, crashed=crashed)
    segments = find_segments(room)
    assert len(segments) == 3  # a file cut short by a crash is still found and read
    out = tmp_path / "lesson.webm"
    steps: list[int] = []
    length = assemble(segments, out, teacher_id=TEACHER, progress=steps.append)

    info = probe(out)
    assert info["kinds"] == ["audio", "video"]
    assert abs(info["duration"] - 10) < 0.5 and abs(length - 10) < 0.2
    assert steps[0] == 0 and steps[-1] == 90 and steps == sorted(steps)

    audio = decoded_audio(out)
    second = SAMPLE_RATE
    student_turn = audio[int(6.3 * second) : int(7.7 * second)]
    teacher_only = audio[int(1 * second) : int(3 * second)]
    refresh_gap = audio[int(4.3 * second) : int(4.7 * second)]
    assert energy_at(student_turn, 1500) > 0.2  # the student's voice is in the mix
    assert energy_at(student_turn, 440) > 0.2  # over the teacher's
    assert energy_at(teacher_only, 1500) < 0.01
    assert np.abs(refresh_gap).max() < 500  # nobody spoke during the refresh

    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert abs(frames - 150) <= 2  # the refresh gap holds the last picture: no missing time


def _start(sfu, login) -> str:
    sfu.klass.record = True
    db.session.commit()
    started = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    assert started.status_code == 200, started.get_json()
    return started.get_json()["join"]["embed"]["room"]


def test_a_killed_workers_segments_become_the_lessons_one_recording(sfu, login, client, tmp_path):
    """Segments left on disk by a worker that died mid-lesson (no take_recordings, a file cut
    short) are assembled after the class; a re-run makes no second recording."""
    room = _start(sfu, login)
    room_dir = sfu.pool.recording_dir / room
    lesson_segments(room_dir, crashed=True)
    for path in room_dir.glob("*.json"):  # the real ids of this school's teacher and student
        info = json.loads(path.read_text())
        info["user_id"] = {TEACHER: sfu.teacher.id, STUDENT: sfu.student.id}[info["user_id"]]
        path.write_text(json.dumps(info))
    teacher = login(sfu.teacher)
    assert teacher.post(f"/api/schedules/{sfu.schedule.id}/end").status_code == 200

    (recording,) = assembled_recordings()
    assert recording.backend == "native_sfu" and recording.backend_record_id == room
    assert abs(recording.duration_seconds - 10) <= 1
    out = tmp_path / "lesson.webm"
    out.write_bytes(storage.read_bytes(recording.storage_key))
    assert probe(out)["kinds"] == ["audio", "video"]
    assert list(room_dir.glob("*")) == []  # the segments went after success only

    assert assemble_pending_recordings() == 0  # nothing left: no second recording
    lesson_segments(room_dir)  # even if a stray copy of the segments came back
    assert assemble_pending_recordings() == 0
    assert db.session.execute(db.select(Recording)).scalars().all() == [recording]
    status = teacher.get(f"/sfu/rooms/{room}/assembly")
    assert status.status_code == 200
    assert status.get_json() == {
        "state": "ready",
        "percent": 100,
        "message": "",
        "recording_id": recording.id,
    }
    assert login(sfu.student).get(f"/sfu/rooms/{room}/assembly").status_code == 403


def test_a_failed_assembly_is_shown_and_the_teacher_retries_it(sfu, login, monkeypatch):
    room = _start(sfu, login)
    room_dir = sfu.pool.recording_dir / room
    lesson_segments(room_dir)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    import portal_native_sfu.assembly as assembly

    real = assembly.assemble
    monkeypatch.setattr(assembly, "assemble", broken)
    teacher = login(sfu.teacher)
    assert teacher.post(f"/api/schedules/{sfu.schedule.id}/end").status_code == 200
    assemble_pending_recordings()
    status = teacher.get(f"/sfu/rooms/{room}/assembly").get_json()
    assert status["state"] == "failed" and status["message"] == "disk full"
    assert db.session.execute(db.select(Recording)).scalars().all() == []
    assert len(list(room_dir.glob("*.webm"))) == 3  # kept for the retry

    refused = login(sfu.student).post(f"/sfu/rooms/{room}/assembly/retry")
    assert refused.status_code == 403, refused.get_data(as_text=True)
    monkeypatch.setattr(assembly, "assemble", real)
    retried = teacher.post(f"/sfu/rooms/{room}/assembly/retry")
    assert retried.status_code == 202 and retried.get_json()["state"] in ("queued", "assembling")
    (recording,) = assembled_recordings()
    assert teacher.get(f"/sfu/rooms/{room}/assembly").get_json()["state"] == "ready"
    again = teacher.post(f"/sfu/rooms/{room}/assembly/retry")
    assert again.status_code == 409


def test_the_class_page_api_follows_the_assembly_and_retries_it(sfu, login, monkeypatch):
    """The plugin reports each state to the portal (services.report_recording_progress):
    the class's teacher sees the failure on GET /api/classes/<id>/recording-jobs and retries
    it through the backend-neutral core route; once ready it leaves the list."""
    room = _start(sfu, login)
    lesson_segments(sfu.pool.recording_dir / room)
    import portal_native_sfu.assembly as assembly

    real = assembly.assemble

    def broken(*args, progress, **kwargs):
        progress(40)
        raise RuntimeError("disk full")

    monkeypatch.setattr(assembly, "assemble", broken)
    teacher = login(sfu.teacher)
    jobs_url = f"/api/classes/{sfu.klass.id}/recording-jobs"
    assert teacher.post(f"/api/schedules/{sfu.schedule.id}/end").status_code == 200
    assert [j["state"] for j in teacher.get(jobs_url).get_json()] in (["queued"], ["failed"])
    assemble_pending_recordings()
    (job,) = teacher.get(jobs_url).get_json()
    assert (job["state"], job["message"], job["can_retry"]) == ("failed", "disk full", True)
    assert job["percent"] == 40
    assert login(sfu.student).get(jobs_url).status_code == 403

    monkeypatch.setattr(assembly, "assemble", real)
    retry_url = f"/api/schedules/{sfu.schedule.id}/recording-job/retry"
    assert login(sfu.student).post(retry_url).status_code == 403
    retried = teacher.post(retry_url)
    assert retried.status_code == 202, retried.get_json()
    assert retried.get_json()["state"] in ("queued", "assembling")
    (recording,) = assembled_recordings()
    assert teacher.get(jobs_url).get_json() == []
    assert [r["id"] for r in teacher.get(f"/api/classes/{sfu.klass.id}/recordings").get_json()] == [
        recording.id
    ]
    assert teacher.get(f"/sfu/rooms/{room}/assembly").get_json()["state"] == "ready"


def test_the_assembly_s_claim_and_progress_are_committed_while_it_runs(sfu, login, monkeypatch):
    """The claim and each percent are committed as the job goes, not when the lesson is
    assembled: the teacher's class page (another connection) sees "assembling 40 %" during
    a long assembly, and on SQLite the job does not hold the write lock all along."""
    room = _start(sfu, login)
    lesson_segments(sfu.pool.recording_dir / room)
    import portal_native_sfu.assembly as assembly

    from portal.extensions import db

    uncommitted: list[bool] = []
    real = assembly.assemble

    def observed(*args, progress, **kwargs):
        progress(40)
        # Nothing of the job is left to commit right after it reported its progress.
        uncommitted.append(db.session().in_transaction())
        return real(*args, progress=progress, **kwargs)

    monkeypatch.setattr(assembly, "assemble", observed)
    assert login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/end").status_code == 200
    assemble_pending_recordings()
    assert uncommitted == [False]
    assert len(assembled_recordings()) == 1


RED, BLUE = (220, 20, 20), (20, 20, 220)


def picture_at(path: Path, seconds: float) -> np.ndarray:
    """The recording's decoded picture (RGB) shown at `seconds`."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if float(frame.time or 0) >= seconds:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no picture at {seconds} s")


def assert_looks(region: np.ndarray, color: tuple[int, int, int], what: str) -> None:
    """Every channel's mean within 50 of `color`: red-ish, blue-ish, black-ish."""
    means = region.reshape(-1, 3).mean(axis=0)
    assert np.all(np.abs(means - np.array(color)) < 50), (what, means.round(), color)


def camera_and_screen(
    room: Path, *, camera_seconds: float, screen_from: float, screen_size: tuple[int, int]
) -> list:
    """The teacher's red 320x240 camera from T0, their blue screen share from T0 +
    `screen_from` to the camera's end + 2 s."""
    room.mkdir()
    write_segment(
        room / "camera.webm",
        start=T0,
        seconds=camera_seconds,
        tone_hz=440,
        video=True,
        user_id=TEACHER,
        color=RED,
    )
    write_segment(
        room / "screen.webm",
        start=T0 + screen_from,
        seconds=camera_seconds + 2 - screen_from,
        tone_hz=440,
        video=True,
        user_id=TEACHER,
        label="screen",
        color=BLUE,
        size=screen_size,
    )
    return find_segments(room)


def test_the_teachers_camera_is_an_inset_over_the_screen_while_both_are_live(tmp_path):
    """Camera (red, 320x240) 0-6 s, screen share (blue, 640x480) 2-8 s: camera alone fills
    the picture, then the screen with the camera bottom right, then the screen alone."""
    out = tmp_path / "lesson.webm"
    segments = camera_and_screen(
        tmp_path / "room", camera_seconds=6, screen_from=2, screen_size=(640, 480)
    )
    length = assemble(segments, out, teacher_id=TEACHER)

    info = probe(out)
    assert info["kinds"] == ["audio", "video"]  # one video and one audio stream
    assert abs(info["duration"] - 8) < 0.5 and abs(length - 8) < 0.2  # the lesson's span

    camera_only = picture_at(out, 1.0)
    assert camera_only.shape == (480, 640, 3)  # the screen's size, the camera scaled up
    assert_looks(camera_only, RED, "camera alone, full frame")

    both = picture_at(out, 4.0)
    left, top, w, h = inset_box(640, 480, 320, 240)
    assert (w, h) == (160, 120) and left + w < 640 and top + h < 480  # bottom right
    inset = both[top + 4 : top + h - 4, left + 4 : left + w - 4]
    assert_looks(inset, RED, "the camera inset")
    assert_looks(both[: top - 4], BLUE, "the screen above the inset")
    assert_looks(both[:, : left - 4], BLUE, "the screen left of the inset")

    screen_only = picture_at(out, 7.0)
    assert_looks(screen_only, BLUE, "the screen alone")


def test_a_camera_of_another_aspect_keeps_it_with_black_bars(tmp_path):
    """A 16:9 screen sets the picture; the 4:3 camera alone is shown whole, not stretched."""
    out = tmp_path / "lesson.webm"
    segments = camera_and_screen(
        tmp_path / "room", camera_seconds=4, screen_from=2, screen_size=(640, 360)
    )
    assemble(segments, out, teacher_id=TEACHER)

    camera_only = picture_at(out, 1.0)
    assert camera_only.shape == (360, 640, 3)
    bar = (640 - 480) // 2  # 4:3 at 360 high is 480 wide
    assert_looks(camera_only[:, bar + 4 : 640 - bar - 4], RED, "the camera, whole")
    assert_looks(camera_only[:, : bar - 4], (0, 0, 0), "the left bar")
    assert_looks(camera_only[:, 640 - bar + 4 :], (0, 0, 0), "the right bar")
    both = picture_at(out, 3.0)
    left, top, w, h = inset_box(640, 360, 320, 240)
    assert_looks(both[top + 4 : top + h - 4, left + 4 : left + w - 4], RED, "the inset")
    assert_looks(both[: top - 4], BLUE, "the screen")
