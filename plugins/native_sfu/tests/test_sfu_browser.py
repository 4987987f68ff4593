"""Headless Chromium with a fake camera publishes from one page; another page plays it."""

from __future__ import annotations

import pytest
from portal_testing import PASSWORD, launch_chromium

# Real-time media (durations, frame and sound timing): one such file at a time, on one
# pytest-xdist worker, so two never compete for the CPU with each other.
pytestmark = pytest.mark.xdist_group("media")

# On top of the shared CHROMIUM_ARGS: a fake camera and microphone, granted without asking.
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Chromium hides host candidates behind mDNS names that aiortc cannot resolve offline.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def _browser(playwright):
    return launch_chromium(playwright, *MEDIA_ARGS)


def _sign_in(browser, base: str, email: str):
    context = browser.new_context(permissions=["camera", "microphone"])
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] [type=submit], form[action='/login'] button")
    page.wait_for_url(f"{base}/")
    return page


@pytest.mark.browser
def test_teacher_camera_published_from_one_page_plays_in_another(sfu, login, portal_url):
    from playwright.sync_api import sync_playwright

    started = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    assert started.status_code == 200, started.get_json()
    room = started.get_json()["join"]["embed"]["room"]
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            teacher = _sign_in(browser, portal_url, sfu.teacher.email)
            teacher.goto(f"{portal_url}/sfu/rooms/{room}")
            teacher.click("[data-action=camera]")
            teacher.wait_for_function(
                "() => document.querySelector('.sfu-status').textContent === 'You are live'",
                timeout=30_000,
            )

            student = _sign_in(browser, portal_url, sfu.student.email)
            student.goto(f"{portal_url}/sfu/rooms/{room}")
            # The student's page lists the teacher's stream, watches it over WHEP and the
            # <video> advances through decoded frames of the fake camera.
            student.wait_for_selector(".sfu-remote video", timeout=30_000)
            student.wait_for_function(
                """() => { const v = document.querySelector('.sfu-remote video');
                           return v && v.videoWidth > 0 && v.currentTime > 1.0
                                  && v.getVideoPlaybackQuality().totalVideoFrames > 10; }""",
                timeout=45_000,
            )
            width = student.evaluate("document.querySelector('.sfu-remote video').videoWidth")
            frames = student.evaluate(
                "() => document.querySelector('.sfu-remote video')"
                ".getVideoPlaybackQuality().totalVideoFrames"
            )
            caption = student.text_content(".sfu-remote figcaption")
            # The mute toggle changes the published track, not the connection.
            teacher.click("[data-action=mute]")
            muted = teacher.evaluate(
                "window.portalSfuRoom.mine.camera.stream.getAudioTracks()[0].enabled"
            )
        finally:
            browser.close()
    assert width == 640
    assert frames > 10
    assert sfu.teacher.name in caption
    assert muted is False
