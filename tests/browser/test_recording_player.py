"""The recording page plays a stored recording in the page: the player's time advances
after play, and seeking (HTTP Range requests on the local file link) jumps to the time
asked for. A share link opens the same player without signing in."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from playwright.sync_api import expect

from portal.core import recordings, storage
from portal.core.models import User
from portal.extensions import db

pytestmark = pytest.mark.browser


def _webm(path: Path, seconds: int = 6) -> bytes:
    """A small VP8 + Opus WebM, seconds long."""
    out = av.open(str(path), "w", format="webm")
    video = out.add_stream("libvpx", rate=15)
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    audio = out.add_stream("libopus", rate=48000)
    audio.layout = "mono"
    for i in range(seconds * 15):
        picture = av.VideoFrame.from_ndarray(
            np.full((120, 160, 3), (17 * i) % 255, dtype=np.uint8), format="rgb24"
        )
        picture.pts, picture.time_base = i, Fraction(1, 15)
        for packet in video.encode(picture):
            out.mux(packet)
        n = np.arange(i * 3200, (i + 1) * 3200)
        tone = (6000 * np.sin(2 * np.pi * 440 * n / 48000)).astype(np.int16).reshape(1, -1)
        sound = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = 48000, i * 3200, Fraction(1, 48000)
        for packet in audio.encode(sound):
            out.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()
    return path.read_bytes()


def _stored_recording(live_server, class_id: int, config_id: int, data: bytes) -> int:
    with live_server.app.app_context():
        key = storage.new_key(f"recordings/{class_id}", "webm")
        storage.get_storage().save(key, data, "video/webm")
    return live_server.recording(
        class_id,
        config_id,
        backend_record_id="rec-file",
        title="Lesson on file",
        duration_seconds=6,
        storage_key=key,
        visibility="members",
    )


def _plays_and_seeks(page) -> None:
    player = page.locator("#recording-player")
    expect(player).to_be_visible()
    page.wait_for_function(
        "() => document.getElementById('recording-player').readyState >= 1", timeout=15_000
    )
    duration = player.evaluate("v => v.duration")
    assert 5 < duration < 7
    player.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "() => document.getElementById('recording-player').currentTime > 0.5", timeout=15_000
    )
    player.evaluate("v => v.pause()")
    player.evaluate("v => { v.currentTime = 4.5; }")
    page.wait_for_function(
        "() => { const v = document.getElementById('recording-player');"
        " return !v.seeking && v.currentTime >= 4.4; }",
        timeout=15_000,
    )
    assert player.evaluate("v => v.seekable.length") >= 1


def test_the_recording_page_plays_and_seeks(live_server, new_context, sign_in, tmp_path):
    config_id = live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tom Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, _sid = live_server.class_with(
        teacher, [student], title="Optics", starts_in=timedelta(days=1)
    )
    recording_id = _stored_recording(live_server, class_id, config_id, _webm(tmp_path / "a.webm"))

    page = sign_in(new_context(), student.email, next_path=f"/recordings/{recording_id}")
    _plays_and_seeks(page)  # the 206 answers themselves: test_recording_visibility.py
    expect(page.locator("#recording-download")).to_be_visible()

    with live_server.app.app_context():
        actor = db.session.get(User, teacher.id)
        recordings.set_visibility(actor, recording_id, "link")
        link = recordings.renew_share_link(actor, recording_id)
        db.session.commit()
    anonymous = new_context().new_page()
    anonymous.goto(link.url)
    _plays_and_seeks(anonymous)
