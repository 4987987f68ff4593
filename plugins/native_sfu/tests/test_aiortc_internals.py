"""Fails loudly when aiortc changes the private internals the SFU's forwarding relies on."""

from __future__ import annotations

import re
from pathlib import Path

import aiortc
from portal_native_sfu import internals


def test_the_private_aiortc_api_the_sfu_uses_is_still_there():
    internals.check_internals()  # raises InternalsChanged with the list of what moved


def test_aiortc_is_pinned_to_the_version_the_internals_were_written_for():
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    pinned = re.search(r'"aiortc==([^"]+)"', pyproject)
    assert pinned, "aiortc must be pinned exactly in plugins/native_sfu/pyproject.toml"
    assert pinned.group(1) == internals.AIORTC_VERSION == aiortc.__version__


def test_keyframe_detection_reads_vp8_and_h264_bitstreams():
    assert internals.VIDEO_KEYFRAME_CHECKS["video/vp8"](bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]))
    assert not internals.VIDEO_KEYFRAME_CHECKS["video/vp8"](bytes([0x11, 0x02, 0x00]))
    assert internals.VIDEO_KEYFRAME_CHECKS["video/h264"](
        b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65\x88"
    )
    assert not internals.VIDEO_KEYFRAME_CHECKS["video/h264"](b"\x00\x00\x00\x01\x41\x9a")
