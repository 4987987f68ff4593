"""Keyframe-request rate limiting and slow-viewer handling, without any network."""

from __future__ import annotations

import asyncio
import types

import av
from portal_native_sfu import internals, media


class FakeReceiver:
    def getSynchronizationSources(self):
        return [types.SimpleNamespace(source=1234)]


def make_source(monkeypatch, sent: list, interval: float = 0.2) -> media.Source:
    async def fake_send_pli(receiver, ssrc):
        sent.append((asyncio.get_running_loop().time(), ssrc))

    monkeypatch.setattr(internals, "send_pli", fake_send_pli)
    room = types.SimpleNamespace(limits=media.Limits(pli_interval=interval))
    session = media.Session(room=room, role="publish", user_id=1, label="camera", pc=None)
    track = types.SimpleNamespace(kind="video")
    return media.Source(session, track, FakeReceiver(), codec=None)


def packet(keyframe: bool) -> av.Packet:
    p = av.Packet(b"\x10" if keyframe else b"\x11")
    p.is_keyframe = keyframe
    return p


def test_a_burst_of_keyframe_requests_reaches_the_publisher_as_one_now_and_one_later(monkeypatch):
    sent: list = []

    async def scenario():
        source = make_source(monkeypatch, sent, interval=0.2)
        for _ in range(20):  # 20 viewers asking at once
            source.request_keyframe()
        await asyncio.sleep(0.05)
        first = len(sent)
        await asyncio.sleep(0.3)
        return first, source

    first, source = asyncio.run(scenario())
    assert first == 1
    assert len(sent) == 2  # the rest were folded into a single deferred request
    assert sent[1][0] - sent[0][0] >= 0.19
    assert sent[0][1] == 1234
    assert source.plis_sent == 2


def test_a_new_viewer_starts_at_a_keyframe_and_a_lagging_one_is_reset(monkeypatch):
    sent: list = []

    async def scenario():
        source = make_source(monkeypatch, sent, interval=0.0)
        sink = source.add_sink()
        sink.push(packet(False))  # a delta frame is useless without its keyframe
        queued_before_key = sink.queue.qsize()
        sink.push(packet(True))
        sink.push(packet(False))
        queued_after_key = sink.queue.qsize()
        for _ in range(media.FORWARD_QUEUE + 5):  # the viewer stops reading
            sink.push(packet(False))
        lagging = (sink.waiting_for_keyframe, sink.queue.qsize())
        first = await sink.recv() if sink.queue.qsize() else None
        await asyncio.sleep(0.05)
        return queued_before_key, queued_after_key, lagging, first

    before, after, lagging, first = asyncio.run(scenario())
    assert before == 0
    assert after == 2
    assert lagging == (True, 0)  # dropped its backlog, waits for the next keyframe
    assert first is None
    assert len(sent) >= 2  # one PLI for joining, more for the reset


def test_a_publisher_whose_ice_consent_expired_is_no_longer_listed_or_watched():
    """Between consent expiry (connection "failed") and the session's end, nobody may attach."""
    room = media.Room("r", record=False, recording_dir=None, limits=media.Limits())

    def publisher(state: str, created_at: float) -> media.Session:
        session = media.Session(
            room=room,
            role="publish",
            user_id=1,
            label=f"cam-{state}",
            pc=types.SimpleNamespace(connectionState=state),
            created_at=created_at,
        )
        session.sources["video"] = types.SimpleNamespace(
            sinks=set(), packets=0, keyframes=0, plis_sent=0, suppressed=0
        )
        room.sessions[session.id] = session
        return session

    dead = publisher("failed", created_at=1.0)
    closed = publisher("closed", created_at=2.0)
    live = publisher("connected", created_at=3.0)
    assert room.default_publisher() is live
    assert [s["id"] for s in room.describe()["sessions"]] == [live.id]
    assert not dead.alive and not closed.alive
