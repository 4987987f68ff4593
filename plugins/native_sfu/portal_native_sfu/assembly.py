"""One recording per lesson: the segment files the worker wrote during the class (one per
published stream, each with a JSON sidecar naming its publisher and wall-clock start) are
composed into one WebM (VP8 + Opus) after the class.

Video is the teacher's screen share while one is live, else the teacher's camera, on one
timeline aligned by each segment's wall-clock start: a refresh or a reconnection leaves a
gap that holds the last frame (black before the first one), not another file. Audio is the
teacher's and every student's microphone (a student publishes only while given the floor),
resampled to 48 kHz mono and summed with clipping over the lesson's length.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 48000
FPS = 15
SIDECAR_SUFFIX = ".json"


@dataclass
class Segment:
    """One stream's file: who published it, what (label), and when it started."""

    path: Path
    user_id: int | None
    label: str
    started_at: float  # wall-clock seconds of the file's time 0
    has_video: bool = False
    has_audio: bool = False
    ended_at: float = 0.0
    width: int = 0
    height: int = 0


@dataclass
class _VideoCursor:
    """Decodes one segment's video lazily, keeping the latest frame not after `t`."""

    segment: Segment
    frames: Iterator[Any] = field(init=False)
    current: Any = None
    pending: Any = None
    done: bool = False

    def __post_init__(self) -> None:
        self.container = av.open(str(self.segment.path))
        self.frames = self.container.decode(video=0)

    def frame_at(self, t: float) -> Any:
        while not self.done:
            if self.pending is None:
                try:
                    self.pending = next(self.frames)
                except (StopIteration, av.error.FFmpegError):
                    self.done = True
                    break
            if self.segment.started_at + float(self.pending.time or 0) > t:
                break
            self.current, self.pending = self.pending, None
        return self.current

    def close(self) -> None:
        self.container.close()


class _AudioCursor:
    """One segment's audio as 48 kHz mono int16 samples placed on the lesson's timeline."""

    def __init__(self, segment: Segment, t0: float) -> None:
        self.container = av.open(str(segment.path))
        self.frames = self.container.decode(audio=0)
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self.offset = segment.started_at - t0
        self.start = 0  # timeline sample of buffer[0]
        self.buffer = np.zeros(0, dtype=np.int32)
        self.done = False

    def _pull(self) -> None:
        try:
            frame = next(self.frames)
        except (StopIteration, av.error.FFmpegError):
            self.done = True
            return
        position = round((self.offset + float(frame.time or 0)) * SAMPLE_RATE)
        samples = [f.to_ndarray().reshape(-1) for f in self.resampler.resample(frame)]
        if not samples:
            return
        data = np.concatenate(samples).astype(np.int32)
        end = self.start + len(self.buffer)
        if not len(self.buffer):
            self.start, self.buffer = position, data
        elif position > end + SAMPLE_RATE // 10:
            # A gap (no packets while muted or reconnecting): silence, then the new sound.
            silence = np.zeros(position - end, dtype=np.int32)
            self.buffer = np.concatenate([self.buffer, silence, data])
        else:
            self.buffer = np.concatenate([self.buffer, data])

    def add_into(self, mix: np.ndarray, a: int) -> None:
        """Add this segment's samples for the timeline samples [a, a + len(mix))."""
        b = a + len(mix)
        while not self.done and self.start + len(self.buffer) < b:
            self._pull()
        lo, hi = max(a, self.start), min(b, self.start + len(self.buffer))
        if hi > lo:
            mix[lo - a : hi - a] += self.buffer[lo - self.start : hi - self.start]
        keep = max(0, b - self.start)
        self.buffer, self.start = self.buffer[keep:], self.start + min(keep, len(self.buffer))

    def close(self) -> None:
        self.container.close()


def write_sidecar(media_path: Path, *, user_id: int | None, label: str, started_at: float) -> None:
    """Name a segment's publisher and start beside it, so the segments of a crashed worker
    can still be assembled."""
    media_path.with_suffix(SIDECAR_SUFFIX).write_text(
        json.dumps({"user_id": user_id, "label": label, "started_at": started_at})
    )


def find_segments(room_dir: Path) -> list[Segment]:
    """The room's segment files that have a sidecar and can be opened, probed for their
    streams and end time (a file cut short by a crash is read up to where it stops)."""
    segments = []
    for sidecar in sorted(room_dir.glob(f"*{SIDECAR_SUFFIX}")):
        media = next((p for p in room_dir.glob(sidecar.stem + ".*") if p != sidecar), None)
        if media is None:
            continue
        info = json.loads(sidecar.read_text())
        segment = Segment(
            path=media,
            user_id=info.get("user_id"),
            label=info.get("label") or "camera",
            started_at=float(info["started_at"]),
        )
        try:
            _probe(segment)
        except av.error.FFmpegError:
            log.warning("SFU segment %s cannot be read; skipping it", media)
            continue
        if segment.has_video or segment.has_audio:
            segments.append(segment)
    return segments


def _probe(segment: Segment) -> None:
    with av.open(str(segment.path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is not None:
            segment.has_video = True
            segment.width, segment.height = video.codec_context.width, video.codec_context.height
        segment.has_audio = audio is not None
        last = 0.0
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            last = max(last, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        segment.ended_at = segment.started_at + last


def assemble(
    segments: list[Segment],
    out_path: Path,
    *,
    teacher_id: int | None,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Write the lesson's one WebM to `out_path`; returns its length in seconds."""
    if not segments:
        raise ValueError("no segments to assemble")
    t0 = min(s.started_at for s in segments)
    t1 = max(s.ended_at for s in segments)
    teacher_video = [s for s in segments if s.has_video and s.user_id == teacher_id]
    videos = teacher_video or [s for s in segments if s.has_video]
    screens = [s for s in videos if s.label == "screen"]
    cameras = [s for s in videos if s.label != "screen"]
    reference = next(iter(cameras or screens), None)
    width = (reference.width if reference else 640) // 2 * 2 or 640
    height = (reference.height if reference else 360) // 2 * 2 or 360

    video_cursors = {id(s): _VideoCursor(s) for s in videos}
    audio_cursors = [_AudioCursor(s, t0) for s in segments if s.has_audio and s.label != "screen"]
    out = av.open(str(out_path), "w", format="webm")
    try:
        vstream = out.add_stream("libvpx", rate=FPS)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.bit_rate = 800_000
        astream = out.add_stream("libopus", rate=SAMPLE_RATE)
        astream.layout = "mono"
        ticks = max(1, round((t1 - t0) * FPS))
        black = av.VideoFrame.from_ndarray(
            np.zeros((height, width, 3), dtype=np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        last = black
        samples_per_tick = SAMPLE_RATE // FPS
        reported = -1
        for tick in range(ticks):
            t = t0 + tick / FPS
            live = [s for s in screens if s.started_at <= t <= s.ended_at] or [
                s for s in cameras if s.started_at <= t <= s.ended_at
            ]
            if live:
                frame = video_cursors[id(live[-1])].frame_at(t)
                if frame is not None:
                    last = frame.reformat(width=width, height=height, format="yuv420p")
            picture = av.VideoFrame.from_ndarray(last.to_ndarray(), format="yuv420p")
            picture.pts, picture.time_base = tick, Fraction(1, FPS)
            for packet in vstream.encode(picture):
                out.mux(packet)

            mix = np.zeros(samples_per_tick, dtype=np.int32)
            for cursor in audio_cursors:
                cursor.add_into(mix, tick * samples_per_tick)
            sound = av.AudioFrame.from_ndarray(
                np.clip(mix, -32768, 32767).astype(np.int16).reshape(1, -1),
                format="s16",
                layout="mono",
            )
            sound.sample_rate = SAMPLE_RATE
            sound.pts, sound.time_base = tick * samples_per_tick, Fraction(1, SAMPLE_RATE)
            for packet in astream.encode(sound):
                out.mux(packet)
            percent = tick * 100 // ticks
            if progress is not None and percent != reported and percent % 10 == 0:
                reported = percent
                progress(percent)
        for stream in (vstream, astream):
            for packet in stream.encode(None):
                out.mux(packet)
    finally:
        out.close()
        for video_cursor in video_cursors.values():
            video_cursor.close()
        for audio_cursor in audio_cursors:
            audio_cursor.close()
    return ticks / FPS


def remove_segments(segments: list[Segment]) -> None:
    """After the assembled file is stored: the segments and their sidecars go."""
    for segment in segments:
        segment.path.unlink(missing_ok=True)
        segment.path.with_suffix(SIDECAR_SUFFIX).unlink(missing_ok=True)
