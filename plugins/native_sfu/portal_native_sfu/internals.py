"""Every use of aiortc/aioice private internals, in one place.

Forwarding encoded frames needs three things aiortc has no public API for:

- receivers must hand over *encoded* frames instead of decoding them: the receiver's
  decoder thread asks `aiortc.rtcrtpreceiver.get_decoder(codec)` for a decoder, so the
  worker process swaps in a pass-through "decoder" that turns each reassembled frame into an
  `av.Packet`. A track whose recv() returns `av.Packet` makes `RTCRtpSender` call
  `encoder.pack()` instead of `encoder.encode()`: no decode, no re-encode.
- a subscriber's keyframe request (RTCP PLI/FIR) reaches `RTCRtpSender._send_keyframe()`,
  which for packets would do nothing; we redirect it to the publisher.
- asking the publisher for a keyframe is `RTCRtpReceiver._send_rtcp_pli(ssrc)`.

The plugin pins aiortc exactly (pyproject.toml) and tests/test_aiortc_internals.py fails
loudly when any of these names or signatures change.
"""

from __future__ import annotations

import fractions
import inspect
from collections.abc import Callable
from typing import Any

import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import av
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

AIORTC_VERSION = "1.16.0"


class InternalsChanged(RuntimeError):
    """The installed aiortc no longer has the private API the SFU relies on."""


def check_internals() -> None:
    """Raise InternalsChanged unless every private hook point is as expected."""
    problems = []
    if aiortc.__version__ != AIORTC_VERSION:
        problems.append(
            f"aiortc {aiortc.__version__} installed, forwarding was written for {AIORTC_VERSION}"
        )
    if not callable(getattr(aiortc.rtcrtpreceiver, "get_decoder", None)):
        problems.append("aiortc.rtcrtpreceiver.get_decoder is gone")
    worker = getattr(aiortc.rtcrtpreceiver, "decoder_worker", None)
    if worker is None or "get_decoder(codec)" not in inspect.getsource(worker):
        problems.append("decoder_worker no longer calls get_decoder(codec)")
    if not inspect.iscoroutinefunction(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)):
        problems.append("RTCRtpReceiver._send_rtcp_pli is gone")
    handler = getattr(RTCRtpSender, "_handle_rtcp_packet", None)
    if handler is None or "self._send_keyframe()" not in inspect.getsource(handler):
        problems.append("RTCRtpSender._handle_rtcp_packet no longer calls self._send_keyframe()")
    next_frame = getattr(RTCRtpSender, "_next_encoded_frame", None)
    if next_frame is None or ".pack(data)" not in inspect.getsource(next_frame):
        problems.append("RTCRtpSender no longer packs pre-encoded packets")
    for name in ("CONSENT_INTERVAL", "CONSENT_FAILURES"):
        if not isinstance(getattr(aioice.ice, name, None), int | float):
            problems.append(f"aioice.ice.{name} is gone")
    if problems:
        raise InternalsChanged("; ".join(problems))


VIDEO_KEYFRAME_CHECKS: dict[str, Callable[[bytes], bool]] = {}


def _vp8_keyframe(data: bytes) -> bool:
    # RFC 6386 9.1: bit 0 of the frame tag is 0 for key frames.
    return len(data) > 0 and (data[0] & 0x01) == 0


def _h264_keyframe(data: bytes) -> bool:
    # aiortc's depayloader returns Annex B: look for an IDR slice (5) or an SPS (7).
    i = 0
    n = len(data)
    while i + 3 < n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            nal_type = data[i + 3] & 0x1F
            if nal_type in (5, 7):
                return True
            i += 3
        else:
            i += 1
    return False


VIDEO_KEYFRAME_CHECKS["video/vp8"] = _vp8_keyframe
VIDEO_KEYFRAME_CHECKS["video/h264"] = _h264_keyframe


class PassthroughDecoder:
    """Stands in for aiortc's decoders: an encoded frame in, the same bytes as a Packet out."""

    def __init__(self, codec: Any) -> None:
        self.time_base = fractions.Fraction(1, codec.clockRate)
        self.keyframe = VIDEO_KEYFRAME_CHECKS.get(codec.mimeType.lower())

    def decode(self, encoded_frame: Any) -> list[av.Packet]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.dts = encoded_frame.timestamp
        packet.time_base = self.time_base
        # Audio frames are all independent; video needs a look at the bitstream.
        packet.is_keyframe = True if self.keyframe is None else self.keyframe(encoded_frame.data)
        return [packet]


_original_get_decoder = aiortc.rtcrtpreceiver.get_decoder


def install_passthrough_decoders() -> None:
    """Make every RTCRtpReceiver of this process deliver av.Packet instead of decoded frames.

    Only the SFU worker process calls this: it never needs decoded media.
    """
    check_internals()
    # Deliberately not an aiortc Decoder (those return decoded Frames): it hands on Packets.
    aiortc.rtcrtpreceiver.get_decoder = PassthroughDecoder  # type: ignore[assignment]


def uninstall_passthrough_decoders() -> None:
    aiortc.rtcrtpreceiver.get_decoder = _original_get_decoder


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` when the remote peer of `sender` sends a PLI or FIR."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    await receiver._send_rtcp_pli(media_ssrc)


def set_consent_timing(interval: float, failures: int) -> None:
    """How fast ICE consent freshness (RFC 7675) declares a silent peer gone."""
    # aioice's constant is inferred as int (its default, 5); it is used as seconds, any float.
    aioice.ice.CONSENT_INTERVAL = interval  # type: ignore[assignment]
    aioice.ice.CONSENT_FAILURES = failures
