"""Synthetic media for tests and the benchmark: frames that carry a counter and a send time.

Each frame draws two rows of 16 black/white blocks in the luma plane: the frame number and
the sender's wall clock in milliseconds (mod 65536). Blocks are large enough to survive VP8
compression, so a receiver can read both back from the decoded picture and check order,
rate and glass-to-glass latency without any side channel.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

BITS = 16
VIDEO_CLOCK = 90000
TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
BLACK, WHITE, GREY = 16, 235, 128


def now_ms() -> int:
    return int(time.time() * 1000) % 65536


def _band_row(value: int, width: int, line_size: int) -> bytes:
    block = width // BITS
    row = bytearray([GREY]) * line_size
    for bit in range(BITS):
        level = WHITE if (value >> (BITS - 1 - bit)) & 1 else BLACK
        row[bit * block : (bit + 1) * block] = bytes([level]) * block
    return bytes(row)


def make_frame(
    counter: int, width: int = 640, height: int = 360, stamp: int | None = None
) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = frame.planes[0]
    band = height // 4
    stamp = now_ms() if stamp is None else stamp
    rows = [_band_row(counter % 65536, width, luma.line_size)] * band
    rows += [_band_row(stamp, width, luma.line_size)] * band
    rows += [bytes([GREY]) * luma.line_size] * (height - 2 * band)
    luma.update(b"".join(rows))
    for plane in frame.planes[1:]:
        plane.update(bytes([128]) * plane.buffer_size)
    return frame


def _read_band(data: bytes, line_size: int, width: int, y: int) -> int:
    block = width // BITS
    value = 0
    for bit in range(BITS):
        x = bit * block + block // 2
        value = (value << 1) | (1 if data[y * line_size + x] > 128 else 0)
    return value


def read_frame(frame: av.VideoFrame) -> tuple[int, int]:
    """(counter, send time in ms mod 65536) drawn by make_frame."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    luma = frame.planes[0]
    data = bytes(luma)
    band = frame.height // 4
    return (
        _read_band(data, luma.line_size, frame.width, band // 2),
        _read_band(data, luma.line_size, frame.width, band + band // 2),
    )


class CounterTrack(MediaStreamTrack):
    """A video track at `fps` whose frames carry their number and send time."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 360, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.counter = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            due = self._start + self.counter / self.fps
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = make_frame(self.counter, self.width, self.height)
        frame.pts = int(self.counter * VIDEO_CLOCK / self.fps)
        frame.time_base = TIME_BASE
        self.counter += 1
        return frame


def latency_ms(sent_stamp: int, received_at_ms: int | None = None) -> int:
    received = now_ms() if received_at_ms is None else received_at_ms
    return (received - sent_stamp) % 65536
