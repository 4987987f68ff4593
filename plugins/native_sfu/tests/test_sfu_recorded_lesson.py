"""A recorded SFU lesson driven by real aiortc peers over loopback: the teacher publishes a
tone and video, refreshes mid-lesson (disconnects and publishes again), a student given the
floor speaks with a tone of another pitch, the class ends. The background job makes ONE
recording, listed once, with one video and one audio stream of the lesson's length, and
the student's voice is in it during the student's turn."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.mediastreams import AudioStreamTrack
from sfu_helpers import Publisher, assembled_recordings, offline_pc, post_sdp
from test_sfu_assembly import decoded_audio, energy_at, probe
from test_sfu_forwarding import join_embed, start_class

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


def test_a_lesson_with_a_refresh_and_a_student_on_the_floor_is_one_recording(
    sfu, login, client, tmp_path
):
    from aiortc import RTCSessionDescription

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
        granted = teacher.post(
            f"/api/schedules/{sfu.schedule.id}/floor/grant",
            json={"user_id": sfu.student.id, "mic": True},
        )
        assert granted.status_code == 200, granted.get_json()
        student = offline_pc()
        student.addTransceiver(ToneTrack(STUDENT_HZ), direction="sendonly")
        await student.setLocalDescription(await student.createOffer())
        answer = post_sdp(client, embed["whip_url"], student_token, student.localDescription.sdp)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        await student.setRemoteDescription(
            RTCSessionDescription(answer.get_data(as_text=True), "answer")
        )
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

    (recording,) = assembled_recordings()  # one recording for the lesson, not one per stream
    listed = login(sfu.teacher).get(f"/api/classes/{sfu.klass.id}/recordings").get_json()
    assert [r["id"] for r in listed] == [recording.id]
    path = tmp_path / "lesson.webm"
    path.write_bytes(storage.read_bytes(recording.storage_key))
    info = probe(path)
    assert info["kinds"] == ["audio", "video"]
    lesson_seconds = marks["end"] - marks["start"]
    assert abs(info["duration"] - lesson_seconds) < 2.5, (info, lesson_seconds)

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
