"""One recording per lesson: the segment files the worker wrote during the class (one per
published stream, each with a JSON sidecar naming its publisher and wall-clock start) are
composed into one WebM (VP8 + Opus) after the class.

Video is the teacher's screen share with their camera as a picture-in-picture inset
(bottom right, a quarter of the width) while both are live, the screen alone or the camera
alone (full frame) otherwise, on one timeline aligned by each segment's wall-clock start:
a refresh or a reconnection leaves a gap that holds the last picture (black before the
first one), not another file. Every source is scaled to the output size keeping its
aspect (black bars where it differs). Audio is the teacher's and every student's
microphone (a student publishes only while given the floor), resampled to 48 kHz mono and
summed with clipping over the lesson's length.
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
# The recording's picture: the screen's (else the camera's) size, at most this big, so a
# 4K screen share does not make the assembly four times slower.
MAX_WIDTH, MAX_HEIGHT = 1280, 720
INSET_SHARE = 4  # the camera inset is 1/INSET_SHARE of the picture's width
# libvpx's default ("good", cpu-used 1) costs ~10x the CPU of its realtime mode at its
# fastest speed, which looks alike for slides and faces at this bit rate. One thread: with
# FFmpeg's default (a thread per core) libvpx's threads spin-wait for each other, which on a
# busy 2-core machine cost 8x the CPU of one thread (640x480: 46 ms a frame instead of 6 ms;
# 1280x720: 89 ms instead of 22 ms) for no gain; the job runs beside the real-time workers.
VP8_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "threads": "1"}


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


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _output_size(reference: Segment | None) -> tuple[int, int]:
    """The reference's size, scaled down (aspect kept) to fit MAX_WIDTH x MAX_HEIGHT."""
    if reference is None or not reference.width or not reference.height:
        return 640, 360
    scale = min(1.0, MAX_WIDTH / reference.width, MAX_HEIGHT / reference.height)
    return _even(reference.width * scale), _even(reference.height * scale)


def _fitted(frame: Any, width: int, height: int) -> np.ndarray:
    """`frame` as RGB scaled to fit width x height with its aspect kept, centred on black."""
    scale = min(width / frame.width, height / frame.height)
    w, h = min(width, _even(frame.width * scale)), min(height, _even(frame.height * scale))
    picture = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
    if (w, h) == (width, height):
        return picture
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - h) // 2, (width - w) // 2
    canvas[top : top + h, left : left + w] = picture
    return canvas


def inset_box(width: int, height: int, camera_width: int, camera_height: int) -> tuple:
    """(left, top, w, h) of the camera inset in a width x height picture: bottom right, a
    margin of 1/64 of the width, 1/INSET_SHARE of the width wide, the camera's aspect."""
    w = _even(width / INSET_SHARE)
    h = min(_even(height / 2), _even(w * camera_height / max(camera_width, 1)))
    margin = _even(width / 64)
    return width - w - margin, height - h - margin, w, h


class _Composer:
    """The picture at each tick: screen + camera inset, screen, or camera; recomposed only
    when a source frame changed (a still screen share costs one composition)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.sources: tuple = ()
        black = np.zeros((height, width, 3), dtype=np.uint8)
        self.picture = av.VideoFrame.from_ndarray(black, format="rgb24").reformat(format="yuv420p")
        self.compositions = 0

    def compose(self, main: Any, inset: Any) -> Any:
        if main is None:
            main, inset = inset, None
        if main is None:
            return self.picture  # nothing live: hold the last picture
        if self.sources and self.sources[0] is main and self.sources[1] is inset:
            return self.picture  # no new frame from any source
        self.sources = (main, inset)
        rgb = _fitted(main, self.width, self.height)
        if inset is not None:
            left, top, w, h = inset_box(self.width, self.height, inset.width, inset.height)
            rgb[top : top + h, left : left + w] = _fitted(inset, w, h)
        self.picture = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        self.compositions += 1
        return self.picture


def _latest_live(segments: list[Segment], t: float) -> Segment | None:
    live = [s for s in segments if s.started_at <= t <= s.ended_at]
    return live[-1] if live else None


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
    width, height = _output_size(next(iter(screens or cameras), None))

    video_cursors = {id(s): _VideoCursor(s) for s in videos}
    audio_cursors = [_AudioCursor(s, t0) for s in segments if s.has_audio and s.label != "screen"]
    composer = _Composer(width, height)
    out = av.open(str(out_path), "w", format="webm")
    try:
        vstream = out.add_stream("libvpx", rate=FPS, options=VP8_OPTIONS)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.bit_rate = 800_000
        astream = out.add_stream("libopus", rate=SAMPLE_RATE)
        astream.layout = "mono"
        ticks = max(1, round((t1 - t0) * FPS))
        samples_per_tick = SAMPLE_RATE // FPS
        reported = -1
        for tick in range(ticks):
            t = t0 + tick / FPS
            screen, camera = _latest_live(screens, t), _latest_live(cameras, t)
            picture = composer.compose(
                video_cursors[id(screen)].frame_at(t) if screen else None,
                video_cursors[id(camera)].frame_at(t) if camera else None,
            )
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
