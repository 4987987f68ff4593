"""Sessions end cleanly: DELETE, vanished clients, class end; recordings become portal
recordings."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import av
import pytest
from aiortc.mediastreams import AudioStreamTrack
from portal_native_sfu.synthetic import read_frame
from sfu_helpers import Publisher, Viewer, assembled_recordings, post_sdp, wait_for

from portal.core import storage
from portal.extensions import db

# Real-time media (durations, frame and sound timing): one such file at a time, on one
# pytest-xdist worker, so two never compete for the CPU with each other.
pytestmark = pytest.mark.xdist_group("media")

HERE = Path(__file__).resolve().parent


def start_class(sfu, login):
    response = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["join"]["embed"]


def tasks_in_worker(sfu, room: str) -> int:
    return sfu.pool.call(None, "stats", index=sfu.pool.index_for(room))["tasks"]


def sessions(sfu, room: str) -> list[dict]:
    return sfu.pool.call(room, "room")["sessions"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_delete_ends_sessions_and_leaves_no_tasks_behind(sfu, login, client):
    embed = start_class(sfu, login)
    room, token = embed["room"], embed["token"]
    auth = {"Authorization": f"Bearer {token}"}
    baseline = tasks_in_worker(sfu, room)

    async def scenario():
        out = {}
        publisher = Publisher()
        assert (await publisher.start(client, embed["whip_url"], token)).status_code == 201
        viewer = Viewer()
        assert (await viewer.start(client, embed["whep_url"], token)).status_code == 201
        assert await wait_for(lambda: len(viewer.frames) >= 10, timeout=20)
        out["during"] = len(sessions(sfu, room))
        out["delete_viewer"] = client.delete(viewer.location, headers=auth).status_code
        out["after_viewer"] = [s["role"] for s in sessions(sfu, room)]
        # A second viewer, then the publisher goes: its viewers are ended with it.
        second = Viewer()
        assert (await second.start(client, embed["whep_url"], token)).status_code == 201
        assert await wait_for(lambda: len(second.frames) >= 5, timeout=20)
        out["delete_publisher"] = client.delete(publisher.location, headers=auth).status_code
        out["after_publisher"] = sessions(sfu, room)
        out["second_closed"] = await wait_for(
            lambda: second.pc.connectionState in ("closed", "failed"), timeout=20
        )
        for peer in (viewer, second, publisher):
            await peer.close()
        out["tasks_back"] = await wait_for(
            lambda: tasks_in_worker(sfu, room) <= baseline, timeout=20, interval=0.5
        )
        return out

    out = run(scenario())
    assert out["during"] == 2
    assert out["delete_viewer"] == 200
    assert out["after_viewer"] == ["publish"]
    assert out["delete_publisher"] == 200
    assert out["after_publisher"] == []
    assert out["second_closed"]
    assert out["tasks_back"], (
        f"worker still runs {tasks_in_worker(sfu, room)} tasks (baseline {baseline})"
    )


def _spawn_peer(role: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "vanishing_peer.py"), role],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the peer process did not answer in time"
    return proc.stdout.readline()


def test_clients_that_vanish_without_goodbye_are_cleaned_up(sfu, login, client):
    embed = start_class(sfu, login)
    room, token = embed["room"], embed["token"]
    baseline = tasks_in_worker(sfu, room)
    peers = []
    try:
        for role, url in (("publish", embed["whip_url"]), ("subscribe", embed["whep_url"])):
            proc = _spawn_peer(role)
            peers.append(proc)
            offer = json.loads(_readline(proc, 30))["sdp"]
            response = post_sdp(client, url, token, offer)
            assert response.status_code == 201, response.get_data(as_text=True)
            proc.stdin.write(json.dumps({"sdp": response.get_data(as_text=True)}) + "\n")
            proc.stdin.flush()
            assert _readline(proc, 30).strip() == "connected"
        assert len(sessions(sfu, room)) == 2
        for proc in peers:
            os.killpg(proc.pid, signal.SIGKILL)  # no DTLS close, no DELETE: gone

        async def gone():
            empty = await wait_for(lambda: sessions(sfu, room) == [], timeout=30, interval=0.5)
            tasks = await wait_for(
                lambda: tasks_in_worker(sfu, room) <= baseline, timeout=20, interval=0.5
            )
            return empty, tasks

        empty, tasks = run(gone())
        assert empty, sessions(sfu, room)
        assert tasks
    finally:
        for proc in peers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_recorded_class_becomes_a_playable_portal_recording(sfu, login, client, tmp_path):
    sfu.klass.record = True
    db.session.commit()
    embed = start_class(sfu, login)

    async def scenario():
        publisher = Publisher()
        publisher.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        assert (await publisher.start(client, embed["whip_url"], embed["token"])).status_code == 201
        viewer = Viewer()
        assert (await viewer.start(client, embed["whep_url"], embed["token"])).status_code == 201
        assert await wait_for(lambda: len(viewer.frames) >= 75, timeout=30)
        ended = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/end")
        await viewer.close()
        await publisher.close()
        return ended

    ended = run(scenario())
    assert ended.status_code == 200, ended.get_json()
    recordings = assembled_recordings()
    assert len(recordings) == 1
    recording = recordings[0]
    assert recording.backend == "native_sfu"
    assert recording.format == "webm"
    assert recording.class_id == sfu.klass.id
    path = tmp_path / "recording.webm"
    path.write_bytes(storage.read_bytes(recording.storage_key))
    with av.open(str(path)) as container:
        kinds = sorted(s.type for s in container.streams)
        counters = [read_frame(frame)[0] for frame in container.decode(video=0)]
    assert kinds == ["audio", "video"]
    assert len(counters) >= 30  # re-encoded at the recording's 15 frames a second
    # One timeline: a picture is held while none arrives, so counters never go back.
    assert all(b >= a for a, b in zip(counters, counters[1:], strict=False))
    assert len(set(counters)) >= 20
    # The worker handed the file over and forgot it: nothing left to collect.
    assert sfu.pool.call(embed["room"], "take_recordings")["recordings"] == []


def test_an_audio_only_publisher_is_recorded_too(sfu, login, client, tmp_path):
    from aiortc import RTCSessionDescription
    from sfu_helpers import offline_pc

    sfu.klass.record = True
    db.session.commit()
    embed = start_class(sfu, login)

    async def scenario():
        pc = offline_pc()
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        response = post_sdp(client, embed["whip_url"], embed["token"], pc.localDescription.sdp)
        assert response.status_code == 201
        await pc.setRemoteDescription(
            RTCSessionDescription(response.get_data(as_text=True), "answer")
        )
        assert await wait_for(
            lambda: any(s["received"].get("audio", 0) >= 100 for s in sessions(sfu, embed["room"])),
            timeout=30,
        )
        ended = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/end")
        await pc.close()
        return ended

    assert run(scenario()).status_code == 200
    (recording,) = assembled_recordings()
    path = tmp_path / "audio.webm"
    path.write_bytes(storage.read_bytes(recording.storage_key))
    with av.open(str(path)) as container:
        # One recording has one video stream always (black without a camera) and the sound.
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert samples >= 48000  # at least one second of sound


def test_a_new_publish_by_the_same_person_replaces_a_vanished_one_at_once(sfu, login, client):
    """A reloaded page or a crashed OBS publishes again before consent freshness notices the
    old session is dead: new viewers must get the new stream, not the dead one."""
    embed = start_class(sfu, login)
    room, token = embed["room"], embed["token"]
    vanished = _spawn_peer("publish")
    try:
        offer = json.loads(_readline(vanished, 30))["sdp"]
        first = post_sdp(client, embed["whip_url"] + "?label=camera", token, offer)
        assert first.status_code == 201
        vanished.stdin.write(json.dumps({"sdp": first.get_data(as_text=True)}) + "\n")
        vanished.stdin.flush()
        assert _readline(vanished, 30).strip() == "connected"
        os.killpg(vanished.pid, signal.SIGKILL)  # no DTLS close, no DELETE
        vanished.wait(10)

        async def scenario():
            out = {}
            again = Publisher(320, 240)
            out["again"] = await again.start(client, embed["whip_url"] + "?label=camera", token)
            screen = Publisher(160, 120)  # another label of the same person is a second stream
            out["screen"] = await screen.start(client, embed["whip_url"] + "?label=screen", token)
            out["publishers"] = sorted(
                (s["label"], s["id"]) for s in sessions(sfu, room) if s["role"] == "publish"
            )
            viewer = Viewer()
            out["watch"] = await viewer.start(client, embed["whep_url"], token)
            out["got_frames"] = await wait_for(lambda: len(viewer.frames) >= 10, timeout=20)
            out["sizes"] = viewer.sizes
            for peer in (viewer, again, screen):
                await peer.close()
            return out

        out = run(scenario())
    finally:
        if vanished.poll() is None:
            os.killpg(vanished.pid, signal.SIGKILL)
        vanished.wait(10)
    new_camera = out["again"].headers["Location"].rsplit("/", 1)[1]
    screen = out["screen"].headers["Location"].rsplit("/", 1)[1]
    assert out["again"].status_code == 201
    assert out["publishers"] == [("camera", new_camera), ("screen", screen)]
    assert out["watch"].status_code == 201
    assert out["got_frames"]
    assert out["sizes"] == {(320, 240)}  # the new camera, not the screen
