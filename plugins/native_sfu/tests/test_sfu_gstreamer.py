"""GStreamer's webrtcbin (Debian's packages) publishes and watches through the SFU, VP8 and H.264.

The GStreamer peer (gst_peer.py) runs under the system Python, which has python3-gi, and
talks WHIP/WHEP over real HTTP to the portal served on 127.0.0.1. Its counterpart is an
aiortc peer that counts decoded frames (or sends numbered ones).
"""

from __future__ import annotations

import asyncio
import functools
import json
import select
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiortc import RTCRtpSender
from portal_testing import missing_service
from sfu_helpers import Publisher, Viewer, wait_for

# Real-time media (durations, frame and sound timing): one such file at a time, on one
# pytest-xdist worker, so two never compete for the CPU with each other.
pytestmark = pytest.mark.xdist_group("media")

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
ELEMENTS = {
    "vp8": ["vp8enc", "vp8dec", "rtpvp8pay", "rtpvp8depay"],
    "h264": ["x264enc", "avdec_h264", "rtph264pay", "rtph264depay"],
}


@functools.cache
def gstreamer_has(codec: str) -> bool:
    probe = (
        "import sys, gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
        "gi.require_version('GstSdp', '1.0'); from gi.repository "
        "import Gst, GstWebRTC, GstSdp; Gst.init(None);"
        "sys.exit(0 if all(Gst.ElementFactory.find(n) for n in "
        f"{['webrtcbin', 'videotestsrc', *ELEMENTS[codec]]!r}) "
        "else 1)"
    )
    try:
        return (
            subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def require_gstreamer(codec: str) -> None:
    if not gstreamer_has(codec):
        missing_service(
            f"GStreamer webrtcbin with {codec} (Debian: "
            "gstreamer1.0-plugins-bad/-good/-ugly/-libav, "
            "gstreamer1.0-nice, python3-gi, gir1.2-gst-plugins-bad-1.0)"
        )


class GstPeer:
    """A gst_peer.py process; poll() folds its JSON lines into `events` and `frames`."""

    def __init__(self, role: str, codec: str, url: str, token: str, *options: str) -> None:
        """`options`: gst_peer.py's KEY=VALUE source settings (pattern, size, fps, tone)."""
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(HERE / "gst_peer.py"), role, codec, url, token, *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict] = []
        self.frames = 0

    def poll(self) -> None:
        while select.select([self.proc.stdout], [], [], 0)[0]:
            line = self.proc.stdout.readline()
            if not line:
                return
            message = json.loads(line)
            if "frames" in message:
                self.frames = message["frames"]
            else:
                self.events.append(message)

    def event(self, name: str) -> dict | None:
        self.poll()
        return next((e for e in self.events if e.get("event") == name), None)

    def finished(self) -> bool:
        self.poll()
        return any(e.get("event") in ("answer", "refused") for e in self.events)

    def connected(self) -> bool:
        self.poll()
        return any(e.get("connection") == "connected" for e in self.events)

    async def stop(self) -> dict | None:
        if self.proc.poll() is None:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            await wait_for(
                lambda: self.event("deleted") is not None or self.proc.poll() is not None,
                timeout=20,
            )
        return self.event("deleted")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def start_class(sfu, login) -> dict:
    response = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["join"]["embed"]


def served(portal_url: str, external_url: str) -> str:
    return portal_url + urlsplit(external_url).path


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_gstreamer_webrtcbin_publishes_and_an_aiortc_viewer_decodes_its_pictures(
    sfu, login, client, portal_url, codec
):
    require_gstreamer(codec)
    embed = start_class(sfu, login)
    peer = GstPeer("publish", codec, served(portal_url, embed["whip_url"]), embed["token"])

    async def scenario():
        out = {}
        assert await wait_for(peer.finished, timeout=60), peer.events
        out["answer"] = peer.event("answer") or peer.events
        out["connected"] = await wait_for(peer.connected, timeout=20)
        viewer = Viewer()
        out["watch"] = (await viewer.start(client, embed["whep_url"], embed["token"])).status_code
        out["got_frames"] = await wait_for(lambda: len(viewer.frames) >= 30, timeout=30)
        out["frames"], out["sizes"] = len(viewer.frames), viewer.sizes
        await viewer.close()
        out["deleted"] = await peer.stop()
        return out

    try:
        out = run(scenario())
    finally:
        peer.kill()
    assert out["answer"]["status"] == 201, out["answer"]
    assert out["connected"], peer.events
    assert out["watch"] == 201
    assert out["got_frames"], out["frames"]
    assert out["sizes"] == {(320, 240)}
    # webrtcbin offers actpass; taking the active role breaks its DTLS handshake.
    assert out["answer"]["setup"] == "passive"
    assert out["deleted"] == {"event": "deleted", "status": 200}


def _prefer(publisher: Publisher, codec: str) -> None:
    wanted = {"vp8": "video/vp8", "h264": "video/h264"}[codec]
    codecs = [
        c
        for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType.lower() == wanted
        and c.parameters.get("profile-level-id", "42e01f") == "42e01f"
    ]
    publisher.pc.getTransceivers()[0].setCodecPreferences(codecs)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_gstreamer_webrtcbin_watches_and_decodes_an_aiortc_publishers_pictures(
    sfu, login, client, portal_url, codec
):
    require_gstreamer(codec)
    embed = start_class(sfu, login)
    token = (
        login(sfu.student)
        .post(f"/api/schedules/{sfu.schedule.id}/join")
        .get_json()["embed"]["token"]
    )
    peer = None

    async def scenario():
        nonlocal peer
        out = {}
        publisher = Publisher(320, 240)
        _prefer(publisher, codec)
        out["publish"] = (
            await publisher.start(client, embed["whip_url"], embed["token"])
        ).status_code
        out["published_codec"] = f"{codec.upper()}/90000" in publisher.response.get_data(
            as_text=True
        )
        peer = GstPeer("watch", codec, served(portal_url, embed["whep_url"]), token)
        assert await wait_for(peer.finished, timeout=60), peer.events
        out["answer"] = peer.event("answer") or peer.events
        out["got_frames"] = await wait_for(lambda: peer.poll() or peer.frames >= 30, timeout=30)
        out["frames"] = peer.frames
        out["deleted"] = await peer.stop()
        await publisher.close()
        return out

    try:
        out = run(scenario())
    finally:
        if peer is not None:
            peer.kill()
    assert out["publish"] == 201
    assert out["published_codec"]
    assert out["answer"]["status"] == 201, out["answer"]
    assert out["got_frames"], (out["frames"], peer.events)
    assert out["answer"]["setup"] == "passive"
    assert out["deleted"] == {"event": "deleted", "status": 200}
