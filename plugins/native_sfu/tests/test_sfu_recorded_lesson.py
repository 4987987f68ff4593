"""A recorded SFU lesson driven by real aiortc peers over loopback: the teacher publishes a
tone and video, refreshes mid-lesson (disconnects and publishes again), a student given the
floor speaks with a tone of another pitch, the class ends. The background job makes ONE
recording, listed once, with one video and one audio stream of the lesson's length, and
the student's voice is in it during the student's turn.

The same lesson published by GStreamer's webrtcbin (gst_peer.py, Debian's GStreamer) with a
screen share beside the camera: the recording shows the screen with the teacher's camera
inset while both are live."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.mediastreams import AudioStreamTrack
from portal_native_sfu.assembly import inset_box
from sfu_helpers import Publisher, assembled_recordings, offline_pc, post_sdp, wait_for
from test_sfu_assembly import BLUE, RED, assert_looks, decoded_audio, energy_at, picture_at, probe
from test_sfu_forwarding import join_embed, start_class
from test_sfu_gstreamer import GstPeer, require_gstreamer, served

from portal.core import storage
from portal.extensions import db

# Real-time media (durations, frame and sound timing): one such file at a time, on one
# pytest-xdist worker, so two never compete for the CPU with each other.
pytestmark = pytest.mark.xdist_group("media")

TEACHER_HZ, STUDENT_HZ = 440, 1500


class ToneTrack(AudioStreamTrack):
    """A paced sine tone (aiortc's silence track, filled in): a voice we can find again."""

    def __init__(self, hz: float) -> None:
        super().__init__()
        self.hz = hz

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        n = np.arange(frame.pts, frame.pts + frame.samples)
        tone = (9000 * np.sin(2 * np.pi * self.hz * n / frame.sample_rate)).astype(np.int16)
        out = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        out.sample_rate, out.pts = frame.sample_rate, frame.pts
        out.time_base = Fraction(1, frame.sample_rate)
        return out


async def teacher_publishes(client, embed) -> Publisher:
    publisher = Publisher()
    publisher.pc.addTransceiver(ToneTrack(TEACHER_HZ), direction="sendonly")
    assert (await publisher.start(client, embed["whip_url"], embed["token"])).status_code == 201
    return publisher


async def student_speaks(teacher, sfu, client, whip_url: str, token: str):
    """The teacher gives the student the floor (microphone); the student publishes a tone
    (aiortc): their voice, to find again."""
    from aiortc import RTCSessionDescription

    granted = teacher.post(
        f"/api/schedules/{sfu.schedule.id}/floor/grant",
        json={"user_id": sfu.student.id, "mic": True},
    )
    assert granted.status_code == 200, granted.get_json()
    student = offline_pc()
    student.addTransceiver(ToneTrack(STUDENT_HZ), direction="sendonly")
    await student.setLocalDescription(await student.createOffer())
    answer = post_sdp(client, whip_url, token, student.localDescription.sdp)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    await student.setRemoteDescription(
        RTCSessionDescription(answer.get_data(as_text=True), "answer")
    )
    return student


def the_lessons_one_recording(sfu, login, tmp_path, lesson_seconds: float):
    """The ended lesson's recording: one, listed once, one video and one audio stream of
    the lesson's length; its file."""
    (recording,) = assembled_recordings()  # one recording for the lesson, not one per stream
    listed = login(sfu.teacher).get(f"/api/classes/{sfu.klass.id}/recordings").get_json()
    assert [r["id"] for r in listed] == [recording.id]
    path = tmp_path / "lesson.webm"
    path.write_bytes(storage.read_bytes(recording.storage_key))
    info = probe(path)
    assert info["kinds"] == ["audio", "video"]
    assert abs(info["duration"] - lesson_seconds) < 2.5, (info, lesson_seconds)
    return path


def test_a_lesson_with_a_refresh_and_a_student_on_the_floor_is_one_recording(
    sfu, login, client, tmp_path
):
    sfu.klass.record = True
    db.session.commit()
    teacher, embed = start_class(sfu, login)
    student_token = join_embed(login(sfu.student), sfu)["token"]
    marks: dict[str, float] = {}

    async def lesson():
        marks["start"] = time.time()
        first = await teacher_publishes(client, embed)
        await asyncio.sleep(4)
        await first.close()  # the teacher's page reloads
        await asyncio.sleep(1)
        second = await teacher_publishes(client, embed)
        student = await student_speaks(teacher, sfu, client, embed["whip_url"], student_token)
        marks["student_from"] = time.time()
        await asyncio.sleep(4)
        marks["student_to"] = time.time()
        await student.close()
        await asyncio.sleep(2)
        ended = teacher.post(f"/api/schedules/{sfu.schedule.id}/end")
        marks["end"] = time.time()
        await second.close()
        return ended

    assert asyncio.run(asyncio.wait_for(lesson(), 120)).status_code == 200

    path = the_lessons_one_recording(sfu, login, tmp_path, marks["end"] - marks["start"])

    audio = decoded_audio(path)
    # The recording's time 0 is the first media to arrive, just after the first publish.
    turn_from = int((marks["student_from"] - marks["start"] + 1.0) * 48000)
    turn_to = int((marks["student_to"] - marks["start"] - 0.5) * 48000)
    assert turn_to - turn_from > 48000
    student_turn = audio[turn_from:turn_to]
    before = audio[int(0.8 * 48000) : int(3.2 * 48000)]
    assert energy_at(student_turn, STUDENT_HZ) > 0.1, "the student's voice is in the recording"
    assert energy_at(student_turn, TEACHER_HZ) > 0.1, "over the teacher's"
    assert energy_at(before, STUDENT_HZ) < 0.02
    assert energy_at(before, TEACHER_HZ) > 0.3


def test_a_gstreamer_teacher_sharing_the_screen_is_recorded_with_the_camera_inset(
    sfu, login, client, portal_url, tmp_path
):
    """The teacher publishes camera + microphone (red, 440 Hz) with webrtcbin, reloads the
    page (a second camera session), shares the screen (blue, 640x480) while the camera runs;
    a student given the floor speaks meanwhile; the class ends: one recording, the lesson's
    length, the student's voice, and the camera as an inset over the screen."""
    require_gstreamer("vp8")
    sfu.klass.record = True
    db.session.commit()
    teacher, embed = start_class(sfu, login)
    whip = served(portal_url, embed["whip_url"])
    student_token = join_embed(login(sfu.student), sfu)["token"]
    camera = ["pattern=red", "size=320x240", "fps=15", f"tone={TEACHER_HZ}"]
    peers: list[GstPeer] = []
    marks: dict[str, float] = {}

    async def publish(url: str, options: list[str]) -> GstPeer:
        peer = GstPeer("publish", "vp8", url, embed["token"], *options)
        peers.append(peer)
        assert await wait_for(peer.finished, timeout=60), peer.events
        assert peer.event("answer"), peer.events
        # The recording's time 0: the worker times a segment from the publish's answer.
        marks.setdefault("start", time.time())
        assert await wait_for(peer.connected, timeout=20), peer.events
        return peer

    async def lesson():
        first = await publish(whip, camera)
        await asyncio.sleep(4)
        await first.stop()  # the teacher's page reloads
        await asyncio.sleep(1)
        await publish(whip, camera)
        screen = await publish(f"{whip}?label=screen", ["pattern=blue", "size=640x480", "fps=5"])
        marks["both_from"] = time.time()
        student = await student_speaks(teacher, sfu, client, embed["whip_url"], student_token)
        marks["student_from"] = time.time()
        await asyncio.sleep(5)
        marks["student_to"] = time.time()
        await student.close()
        await asyncio.sleep(1)
        marks["both_to"] = time.time()
        await screen.stop()
        await asyncio.sleep(1)
        ended = teacher.post(f"/api/schedules/{sfu.schedule.id}/end")
        marks["end"] = time.time()
        return ended

    try:
        assert asyncio.run(asyncio.wait_for(lesson(), 180)).status_code == 200
    finally:
        for peer in peers:
            peer.kill()

    path = the_lessons_one_recording(sfu, login, tmp_path, marks["end"] - marks["start"])

    def at(mark: str, shift: float = 0.0) -> float:
        return marks[mark] - marks["start"] + shift  # seconds into the recording

    audio = decoded_audio(path)
    student_turn = audio[int(at("student_from", 1.0) * 48000) : int(at("student_to", -0.5) * 48000)]
    assert len(student_turn) > 48000
    assert energy_at(student_turn, STUDENT_HZ) > 0.1, "the student's voice is in the recording"
    assert energy_at(student_turn, TEACHER_HZ) > 0.1, "over the teacher's"

    camera_only = picture_at(path, 2.0)
    assert camera_only.shape == (480, 640, 3)  # the screen share's size
    assert_looks(camera_only, RED, "the camera alone, before the screen share")
    both = picture_at(path, (at("both_from") + at("both_to")) / 2)
    left, top, w, h = inset_box(640, 480, 320, 240)
    assert_looks(both[top + 6 : top + h - 6, left + 6 : left + w - 6], RED, "the camera inset")
    assert_looks(both[: top - 6], BLUE, "the screen above the inset")
    assert_looks(both[:, : left - 6], BLUE, "the screen left of the inset")
