"""aiortc peers that talk WHIP/WHEP to the portal through Flask's test client."""

from __future__ import annotations

import asyncio
import contextlib

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from portal_native_sfu.synthetic import CounterTrack, read_frame


def offline_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def post_sdp(client, url: str, token: str | None, sdp: str, content_type: str = "application/sdp"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(url, data=sdp.encode(), headers=headers, content_type=content_type)


class Publisher:
    def __init__(self, width: int = 320, height: int = 240) -> None:
        self.pc = offline_pc()
        self.track = CounterTrack(width, height)
        self.pc.addTransceiver(self.track, direction="sendonly")
        self.response = None

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def start(self, client, url: str, token: str):
        self.response = post_sdp(client, url, token, await self.offer())
        if self.response.status_code == 201:
            await self.pc.setRemoteDescription(
                RTCSessionDescription(self.response.get_data(as_text=True), "answer")
            )
        return self.response

    @property
    def location(self) -> str:
        return self.response.headers["Location"]

    async def close(self) -> None:
        await self.pc.close()


class Viewer:
    """Receives a stream and reads the frame counter of every decoded frame."""

    def __init__(self, audio: bool = False) -> None:
        self.pc = offline_pc()
        self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.frames: list[tuple[int, int]] = []
        self.sizes: set[tuple[int, int]] = set()
        self.audio_frames = 0
        self.response = None
        self._task: asyncio.Task | None = None
        self._audio_task: asyncio.Task | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track) -> None:
        if track.kind == "video":
            self._task = asyncio.ensure_future(self._consume(track))
        else:
            self._audio_task = asyncio.ensure_future(self._count_audio(track))

    async def _consume(self, track) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.sizes.add((frame.width, frame.height))
                self.frames.append(read_frame(frame))

    async def _count_audio(self, track) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.audio_frames += 1

    async def start(self, client, url: str, token: str):
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.response = post_sdp(client, url, token, self.pc.localDescription.sdp)
        if self.response.status_code == 201:
            await self.pc.setRemoteDescription(
                RTCSessionDescription(self.response.get_data(as_text=True), "answer")
            )
        return self.response

    @property
    def counters(self) -> list[int]:
        return [c for c, _ in self.frames]

    @property
    def location(self) -> str:
        return self.response.headers["Location"]

    async def close(self) -> None:
        for task in (self._task, self._audio_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                    await task
        await self.pc.close()


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1) -> bool:
    """Poll `predicate` on the running loop (peers keep working meanwhile); bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()


def assembled_recordings(timeout: float = 180) -> list:
    """The portal's recordings once the ended lesson's assembly job made them: runs the job
    here too (a Celery broker in the tests has no worker) and waits for a run in flight."""
    import time

    from portal_native_sfu.plugin import assemble_pending_recordings

    from portal.core.models import Recording
    from portal.extensions import db

    deadline = time.monotonic() + timeout
    while True:
        assemble_pending_recordings()
        # End the transaction as the job's runner does: an open one would keep the meeting
        # row locked (the claim's compare-and-set) against the job thread's progress commits.
        db.session.commit()
        db.session.expire_all()
        rows = db.session.execute(db.select(Recording)).scalars().all()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)
