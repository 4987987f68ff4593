"""Rooms, publishers and subscribers inside one SFU worker process (one asyncio loop).

A publisher's incoming track is a `Source`; every subscriber of it gets a `ForwardedTrack`
whose recv() hands out the very same encoded `av.Packet`s, so the RTP sender only
re-packetises them (see internals.py). Video subscribers start at a keyframe: a new or
lagging subscriber asks the source for one, and the source sends the publisher a PLI at
most once per `pli_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from portal_native_sfu import internals
from portal_native_sfu.assembly import write_sidecar

log = logging.getLogger(__name__)

# RFC 9725 does not forbid more, but one audio + one video per WHIP session is what every
# client sends (camera and screen are two sessions) and what WHEP viewers can map.
MAX_AUDIO_TRACKS = 1
MAX_VIDEO_TRACKS = 1
FORWARD_QUEUE = 90  # packets buffered per subscriber track before it is declared lagging


class SfuError(Exception):
    """A request the SFU refuses; `code` maps to an HTTP status in the blueprint.

    The worker has no reader's language: `message` is the English catalogue entry with
    named placeholders and `values` fill them; the portal translates both when it answers
    (channel.WorkerError.shown)."""

    def __init__(self, code: str, message: str, **values: Any):
        super().__init__(message % values if values else message)
        self.code = code
        self.message = message
        self.values = values


@dataclass
class Limits:
    connect_timeout: float = 20.0  # a session that never connects is dropped
    media_timeout: float = 30.0  # a publisher that sends nothing at all for this long is gone
    pli_interval: float = 0.5  # at most one keyframe request per source per interval
    max_publishers: int = 10
    max_sessions_per_user: int = 8  # a looping or buggy client cannot exhaust the worker


def ice_configuration(servers: list[dict[str, Any]] | None) -> RTCConfiguration:
    # An empty list, not None: aiortc's default STUN server is unreachable offline and on
    # loopback only host candidates are needed.
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers or []
        ]
    )


def passive_answer(offer_sdp: str, answer: RTCSessionDescription) -> RTCSessionDescription:
    """Take the DTLS server role (`a=setup:passive`) when the offerer lets us choose.

    aiortc answers an `actpass` offer with `active`; GStreamer's webrtcbin (1.22) then fails
    its DTLS handshake. Passive works with webrtcbin, browsers and aiortc alike (RFC 8842
    allows either answer to actpass).
    """
    if "a=setup:actpass" not in offer_sdp:
        return answer
    return RTCSessionDescription(
        sdp=answer.sdp.replace("a=setup:active", "a=setup:passive"), type=answer.type
    )


def parse_offer(sdp_text: str, *, publishing: bool) -> aiortc_sdp.SessionDescription:
    """Validate an offer before any peer connection exists (400/406 answers in the view)."""
    if not sdp_text.strip().startswith("v=0"):
        raise SfuError("bad_sdp", "the body is not an SDP offer (it must start with v=0)")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(sdp_text)
    except Exception as exc:
        raise SfuError(
            "bad_sdp", "the SDP offer cannot be parsed: %(reason)s", reason=str(exc)
        ) from exc
    media = [m for m in parsed.media if m.kind in ("audio", "video")]
    if not media:
        raise SfuError("bad_sdp", "the SDP offer has no audio or video section")
    audio = sum(1 for m in media if m.kind == "audio")
    video = sum(1 for m in media if m.kind == "video")
    if audio > MAX_AUDIO_TRACKS or video > MAX_VIDEO_TRACKS:
        raise SfuError(
            "too_many_tracks",
            "at most %(max_audio)s audio and %(max_video)s video track per session (offer has "
            "%(audio)s audio, %(video)s video); use one session per camera or screen",
            max_audio=MAX_AUDIO_TRACKS,
            max_video=MAX_VIDEO_TRACKS,
            audio=audio,
            video=video,
        )
    wrong = "recvonly" if publishing else "sendonly"
    if any(m.direction == wrong for m in media):
        raise SfuError("bad_sdp", "a WHIP offer must send media and a WHEP offer must receive it")
    return parsed


def _preferred(kind: str, source_codec: Any | None = None) -> list[Any]:
    """Codec preferences: the source's own codec for subscribers, forwardable ones for
    publishers."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    rtx = [c for c in caps if c.mimeType.lower().endswith("/rtx")]
    if kind == "audio":
        return [c for c in caps if c.mimeType.lower() == "audio/opus"]
    if source_codec is None:
        wanted = [c for c in caps if c.mimeType.lower() == "video/vp8"]
        wanted += [c for c in caps if c.mimeType.lower() == "video/h264"]
        return wanted + rtx
    same = [c for c in caps if c.mimeType.lower() == source_codec.mimeType.lower()]
    exact = [c for c in same if c.parameters == source_codec.parameters]
    return (exact or same) + rtx


class ForwardedTrack(MediaStreamTrack):
    """A subscriber's view of a source: recv() returns the publisher's encoded packets."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(maxsize=FORWARD_QUEUE)
        self.waiting_for_keyframe = source.kind == "video"
        self.forwarded = 0
        self.dropped = 0

    def push(self, packet: av.Packet) -> None:
        if self.waiting_for_keyframe:
            if not packet.is_keyframe:
                self.dropped += 1
                self.source.request_keyframe()
                return
            self.waiting_for_keyframe = False
        try:
            self.queue.put_nowait(packet)
        except asyncio.QueueFull:
            # This subscriber cannot keep up: drop what it has queued and restart it at the
            # next keyframe rather than letting memory grow or stalling the others.
            while not self.queue.empty():
                self.queue.get_nowait()
                self.dropped += 1
            self.waiting_for_keyframe = self.kind == "video"
            self.source.request_keyframe()

    def end(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self.queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        self.forwarded += 1
        return packet

    def stop(self) -> None:
        super().stop()
        self.source.sinks.discard(self)


class Source:
    """One track a publisher sends, fanned out to its subscribers."""

    def __init__(
        self, session: Session, track: MediaStreamTrack, receiver: RTCRtpReceiver, codec: Any
    ) -> None:
        self.session = session
        self.track = track
        self.kind = track.kind
        self.receiver = receiver
        self.codec = codec
        self.sinks: set[ForwardedTrack] = set()
        self.packets = 0
        self.keyframes = 0
        self.plis_sent = 0
        self.suppressed = 0  # audio packets not forwarded because the microphone is muted
        self.last_packet_at = time.monotonic()
        self._last_pli = -1e9
        self._pli_timer: asyncio.TimerHandle | None = None
        self.recorder_stream: Callable[[av.Packet], None] | None = None

    def add_sink(self) -> ForwardedTrack:
        sink = ForwardedTrack(self)
        self.sinks.add(sink)
        if self.kind == "video":
            self.request_keyframe()
        return sink

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per pli_interval (the rest wait)."""
        if self.kind != "video" or self.session.closed:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_pli + self.session.room.limits.pli_interval - loop.time()
        if wait <= 0:
            self._send_pli()
        elif self._pli_timer is None:
            self._pli_timer = loop.call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        self._pli_timer = None
        if self.session.closed:
            return
        self._last_pli = asyncio.get_running_loop().time()
        for source in self.receiver.getSynchronizationSources():
            self.plis_sent += 1
            self.session.spawn(internals.send_pli(self.receiver, source.source))

    async def run(self) -> None:
        timeout = self.session.room.limits.media_timeout
        try:
            while True:
                try:
                    # Receivers hand on Packets (internals.install_passthrough_decoders).
                    packet = cast(av.Packet, await asyncio.wait_for(self.track.recv(), timeout))
                except TimeoutError:
                    # A static shared screen may send few frames: only a publisher whose
                    # every track is silent is considered gone.
                    latest = max(s.last_packet_at for s in self.session.sources.values())
                    if time.monotonic() - latest < timeout:
                        continue
                    log.info(
                        "publisher %s sent nothing for %.0fs: closing", self.session.id, timeout
                    )
                    break
                self.packets += 1
                self.last_packet_at = time.monotonic()
                if packet.is_keyframe and self.kind == "video":
                    self.keyframes += 1
                if self.kind == "audio" and self.session.audio_muted:
                    # The teacher muted this microphone: nobody hears it (recording included).
                    self.suppressed += 1
                    continue
                for sink in list(self.sinks):
                    sink.push(packet)
                if self.recorder_stream is not None:
                    self.recorder_stream(packet)
        except MediaStreamError:
            pass
        finally:
            if self._pli_timer is not None:
                self._pli_timer.cancel()
                self._pli_timer = None
            for sink in list(self.sinks):
                sink.end()
            self.session.room.schedule_close(self.session, reason="media ended")


class Recorder:
    """Writes one publisher's encoded audio and video to a WebM (VP8) or Matroska file.

    No transcoding: packets are muxed as received. Timestamps are the RTP ones, shifted by
    each track's arrival offset so audio and video stay aligned.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.container: Any = None
        self.streams: dict[str, Any] = {}
        self.started_at = time.monotonic()
        self.wallclock_start = time.time()
        self.offsets: dict[str, tuple[int, int]] = {}  # kind -> (first pts, offset in tb)
        self.last_dts: dict[str, int] = {}
        self.video_frames = 0
        self.failed = False

    def sink_for(self, source: Source) -> Callable[[av.Packet], None]:
        return lambda packet: self.write(source, packet)

    def _open(self, source: Source, packet: av.Packet) -> bool:
        mime = source.codec.mimeType.lower()
        if mime == "video/vp8":
            data = bytes(packet)
            if len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
                return False
            width = int.from_bytes(data[6:8], "little") & 0x3FFF
            height = int.from_bytes(data[8:10], "little") & 0x3FFF
            fmt, suffix = "webm", ".webm"
        else:
            return False  # only VP8 video is recorded (H.264 needs SPS parsing: not done)
        self.path = self.path.with_suffix(suffix)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), "w", format=fmt)
        video = self.container.add_stream("libvpx", rate=30)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        self.streams["video"] = video
        return True

    def _open_audio_only(self) -> None:
        self.path = self.path.with_suffix(".webm")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), "w", format="webm")

    def _add_audio(self) -> None:
        audio = self.container.add_stream("libopus", rate=48000)
        audio.layout = "stereo"
        self.streams["audio"] = audio

    def write(self, source: Source, packet: av.Packet) -> None:
        if self.failed:
            return
        try:
            if self.container is None:
                if source.kind == "audio":
                    if "video" in source.session.sources:
                        return  # wait for the first video keyframe to learn the picture size
                    self._open_audio_only()
                elif not packet.is_keyframe or not self._open(source, packet):
                    return
                if "audio" not in self.streams:
                    self._add_audio()
                # Who and when, beside the file from its first packet: the segments of a
                # worker that crashed are still assembled into the lesson's recording.
                write_sidecar(
                    self.path,
                    user_id=source.session.user_id,
                    label=source.session.label,
                    started_at=self.wallclock_start,
                )
            self._mux(source.kind, packet)
        except Exception:
            log.exception("recording %s failed; stopping it", self.path)
            self.failed = True

    def _mux(self, kind: str, packet: av.Packet) -> None:
        stream = self.streams.get(kind)
        if stream is None:
            return
        if packet.pts is None:  # nothing to place it by on the recording's timeline
            return
        tb = packet.time_base
        if kind not in self.offsets:
            offset = int((time.monotonic() - self.started_at) / tb) if tb else 0
            self.offsets[kind] = (packet.pts, offset)
        first, offset = self.offsets[kind]
        pts = packet.pts - first + offset
        last = self.last_dts.get(kind)
        if last is not None and pts <= last:
            pts = last + 1
        self.last_dts[kind] = pts
        out = av.Packet(bytes(packet))
        out.pts = out.dts = pts
        out.time_base = tb
        out.is_keyframe = packet.is_keyframe
        out.stream = stream
        self.container.mux(out)
        if kind == "video":
            self.video_frames += 1

    def close(self) -> dict[str, Any] | None:
        if self.container is None:
            return None
        try:
            self.container.close()
        except Exception:
            log.exception("closing recording %s failed", self.path)
            return None
        finally:
            self.container = None
        return {
            "path": str(self.path),
            "started_at": self.wallclock_start,
            "duration_seconds": int(time.monotonic() - self.started_at),
            "video_frames": self.video_frames,
            "format": self.path.suffix.lstrip("."),
        }


@dataclass
class Session:
    """One WHIP (publish) or WHEP (subscribe) resource."""

    room: Room
    role: str  # "publish" | "subscribe"
    user_id: int | None
    label: str
    pc: RTCPeerConnection
    id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    etag: str = field(default_factory=lambda: secrets.token_hex(8))
    created_at: float = field(default_factory=time.time)
    sources: dict[str, Source] = field(default_factory=dict)
    sinks: list[ForwardedTrack] = field(default_factory=list)
    publisher_id: str | None = None
    closed: bool = False
    tasks: set[asyncio.Task] = field(default_factory=set)
    recorder: Recorder | None = None
    name: str = ""

    @property
    def audio_muted(self) -> bool:
        """A microphone the teacher muted; a shared screen's sound is not a microphone."""
        return (
            self.user_id is not None
            and self.user_id in self.room.muted_users
            and self.label != "screen"
        )

    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @property
    def alive(self) -> bool:
        """False once ICE consent expired or the peer closed, even before the session is ended."""
        return not self.closed and self.pc.connectionState not in ("failed", "closed")

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "user_id": self.user_id,
            "name": self.name,
            "label": self.label,
            "publisher_id": self.publisher_id,
            "state": self.pc.connectionState,
            "kinds": sorted(self.sources)
            if self.role == "publish"
            else sorted(s.kind for s in self.sinks),
            "forwarded": {s.kind: s.forwarded for s in self.sinks},
            "received": {k: s.packets for k, s in self.sources.items()},
            "keyframes": {k: s.keyframes for k, s in self.sources.items()},
            "plis_sent": {k: s.plis_sent for k, s in self.sources.items()},
            "subscribers": max((len(s.sinks) for s in self.sources.values()), default=0),
            "audio_muted": self.audio_muted,
            "suppressed": {k: s.suppressed for k, s in self.sources.items() if s.suppressed},
        }


class Room:
    def __init__(
        self, room_id: str, *, record: bool, recording_dir: Path | None, limits: Limits
    ) -> None:
        self.id = room_id
        self.record = record
        self.recording_dir = recording_dir
        self.limits = limits
        self.sessions: dict[str, Session] = {}
        self.closed = False
        self.finished_recordings: list[dict[str, Any]] = []
        self.muted_users: set[int] = set()
        self._closing: set[asyncio.Task] = set()

    # Publishing (WHIP)

    async def publish(
        self,
        sdp_text: str,
        *,
        user_id: int | None,
        label: str,
        name: str = "",
        ice_servers: list[dict[str, Any]] | None,
    ) -> Session:
        if self.closed:
            raise SfuError("room_closed", "this class has ended")
        offer = parse_offer(sdp_text, publishing=True)
        # The same person publishing the same label again (a reloaded page, a crashed OBS)
        # replaces the old stream at once: it may be dead without having said goodbye, and
        # new viewers must not attach to it until consent freshness notices.
        for old in self.replaced_by(user_id, label):
            await self.close_session(old.id, reason="replaced by a new publish")
        self.check_user_quota(user_id)
        publishers = [s for s in self.sessions.values() if s.role == "publish"]
        if len(publishers) >= self.limits.max_publishers:
            raise SfuError(
                "too_many_publishers",
                "no more publishers can join this room (limit: %(count)s)",
                count=len(publishers),
            )
        pc = RTCPeerConnection(ice_configuration(ice_servers))
        session = Session(room=self, role="publish", user_id=user_id, label=label, pc=pc, name=name)
        # Transceivers must exist with their codec preferences *before* the offer is applied:
        # aiortc negotiates codecs inside setRemoteDescription.
        for kind in [m.kind for m in offer.media if m.kind in ("audio", "video")]:
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            transceiver.setCodecPreferences(_preferred(kind))
        incoming: list[MediaStreamTrack] = []
        pc.on("track", incoming.append)
        await self._negotiate(session, sdp_text)
        answer = aiortc_sdp.SessionDescription.parse(pc.localDescription.sdp)
        codecs = {m.rtp.muxId: m.rtp.codecs[0] for m in answer.media if m.rtp.codecs}
        if self.record and self.recording_dir is not None:
            session.recorder = Recorder(
                self.recording_dir / self.id / f"{int(time.time())}-{session.id}"
            )
        for track in incoming:
            transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
            source = Source(session, track, transceiver.receiver, codecs.get(transceiver.mid or ""))
            session.sources[track.kind] = source
            if session.recorder is not None:
                source.recorder_stream = session.recorder.sink_for(source)
            session.spawn(source.run())
        return session

    # Watching (WHEP)

    def check_user_quota(self, user_id: int | None) -> None:
        if user_id is None:
            return
        mine = sum(1 for s in self.sessions.values() if s.user_id == user_id and not s.closed)
        if mine >= self.limits.max_sessions_per_user:
            raise SfuError(
                "too_many_sessions",
                "you have as many open streams in this class as allowed (%(count)s); close one "
                "(DELETE) first",
                count=mine,
            )

    def replaced_by(self, user_id: int | None, label: str) -> list[Session]:
        if user_id is None:
            return []
        return [
            s
            for s in self.sessions.values()
            if s.role == "publish" and s.user_id == user_id and s.label == label
        ]

    def default_publisher(self) -> Session | None:
        """The first live publisher with video (the teacher's camera, normally)."""
        publishers = [s for s in self.sessions.values() if s.role == "publish" and s.alive]
        publishers.sort(key=lambda s: s.created_at)
        with_video = [s for s in publishers if "video" in s.sources]
        candidates = with_video or publishers
        return candidates[0] if candidates else None

    async def subscribe(
        self,
        sdp_text: str,
        *,
        user_id: int | None,
        publisher_id: str | None,
        ice_servers: list[dict[str, Any]] | None,
        name: str = "",
    ) -> Session:
        if self.closed:
            raise SfuError("room_closed", "this class has ended")
        offer = parse_offer(sdp_text, publishing=False)
        self.check_user_quota(user_id)
        if publisher_id:
            publisher = self.sessions.get(publisher_id)
            if publisher is None or publisher.role != "publish" or not publisher.alive:
                raise SfuError("no_publisher", "that stream has ended")
        else:
            publisher = self.default_publisher()
            if publisher is None:
                raise SfuError("no_publisher", "nobody is publishing in this room yet")
        pc = RTCPeerConnection(ice_configuration(ice_servers))
        session = Session(
            room=self,
            role="subscribe",
            user_id=user_id,
            label="viewer",
            pc=pc,
            publisher_id=publisher.id,
            name=name,
        )
        for media in offer.media:
            source = publisher.sources.get(media.kind)
            if source is None or any(s.kind == media.kind for s in session.sinks):
                continue
            sink = source.add_sink()
            session.sinks.append(sink)
            transceiver = pc.addTransceiver(sink, direction="sendonly")
            transceiver.setCodecPreferences(_preferred(media.kind, source.codec))
            internals.on_keyframe_request(transceiver.sender, source.request_keyframe)
        if not session.sinks:
            await self._abort(session)
            raise SfuError(
                "no_matching_tracks", "the offer asks for no kind of media this stream has"
            )
        await self._negotiate(session, sdp_text)
        return session

    async def _negotiate(self, session: Session, sdp_text: str) -> None:
        pc = session.pc

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.schedule_close(session, reason=f"connection {pc.connectionState}")

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp_text, type="offer"))
            await pc.setLocalDescription(passive_answer(sdp_text, await pc.createAnswer()))
        except SfuError:
            await self._abort(session)
            raise
        except Exception as exc:
            await self._abort(session)
            raise SfuError(
                "bad_sdp", "the SDP offer was not acceptable: %(reason)s", reason=str(exc)
            ) from exc
        self.sessions[session.id] = session
        session.spawn(self._connect_watchdog(session))

    async def _abort(self, session: Session) -> None:
        session.closed = True
        for sink in session.sinks:
            sink.stop()
        with contextlib.suppress(Exception):
            await session.pc.close()

    async def _connect_watchdog(self, session: Session) -> None:
        await asyncio.sleep(self.limits.connect_timeout)
        if session.pc.connectionState != "connected" and not session.closed:
            log.info("session %s never connected: closing", session.id)
            self.schedule_close(session, reason="connect timeout")

    # Ending

    def schedule_close(self, session: Session, *, reason: str) -> None:
        if session.closed:
            return
        task = asyncio.ensure_future(self.close_session(session.id, reason=reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_session(self, session_id: str, *, reason: str = "deleted") -> bool:
        session = self.sessions.pop(session_id, None)
        if session is None or session.closed:
            return False
        session.closed = True
        log.info("closing %s session %s in room %s: %s", session.role, session.id, self.id, reason)
        for sink in session.sinks:
            sink.stop()
        current = asyncio.current_task()
        for task in list(session.tasks):
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            await session.pc.close()
        for task in list(session.tasks):
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if session.recorder is not None:
            info = session.recorder.close()
            if info is not None:
                info.update(user_id=session.user_id, label=session.label, name=session.name)
                self.finished_recordings.append(info)
        if session.role == "publish":
            # Viewers of a stream that ended have nothing left to watch.
            for other in list(self.sessions.values()):
                if other.publisher_id == session.id:
                    await self.close_session(other.id, reason="publisher left")
        return True

    async def enforce_floor(
        self, user_id: int, *, mic: bool, camera: bool, screen: bool, mic_muted: bool
    ) -> int:
        """Apply a student's floor now: close each of their streams carrying something no
        longer granted (the page republishes what still is) and stop forwarding a muted
        microphone. Returns how many streams were closed."""
        if mic_muted:
            self.muted_users.add(user_id)
        else:
            self.muted_users.discard(user_id)
        allowed = {"audio": mic, "video": camera}
        closing = []
        for session in self.sessions.values():
            if session.user_id != user_id or session.role != "publish" or session.closed:
                continue
            if session.label == "screen":
                withdrawn = not screen
            else:
                withdrawn = any(not allowed.get(kind, False) for kind in session.sources)
            if withdrawn:
                closing.append(session.id)
        for session_id in closing:
            await self.close_session(session_id, reason="floor withdrawn")
        return len(closing)

    async def close(self) -> None:
        self.closed = True
        for session_id in [s.id for s in self.sessions.values() if s.role == "subscribe"]:
            await self.close_session(session_id, reason="room closed")
        for session_id in list(self.sessions):
            await self.close_session(session_id, reason="room closed")
        if self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)

    def describe(self) -> dict[str, Any]:
        return {
            "room": self.id,
            "closed": self.closed,
            "record": self.record,
            "sessions": [s.describe() for s in self.sessions.values() if s.alive],
            "muted_users": sorted(self.muted_users),
        }
