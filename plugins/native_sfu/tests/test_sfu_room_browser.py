"""What people in an SFU class hear and see, in headless Chromium with fake camera and
microphone, on the portal's class room page (room.js mounts the plugin's sfu-room.js):

- a student hears the teacher: after the single "Click to hear the class" the page asks
  for, the element playing the teacher is unmuted and a WebAudio analyser on the stream
  it plays measures sound;
- the floor: raise hand -> the teacher grants -> the teacher's page decodes the student's
  video frames and hears the student -> withdraw -> the SFU has no stream of the student
  left and the teacher's page drops it; a mute stops the student's audio at the SFU.
"""

from __future__ import annotations

import time

import pytest
from portal_testing import PASSWORD, launch_chromium
from test_sfu_browser import MEDIA_ARGS

# The peak audio level a page can measure on a <video>'s stream over a few seconds (the fake
# microphone beeps once a second; silence measures 0).
PEAK_LEVEL_JS = """async (selector) => {
  const video = document.querySelector(selector);
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(video.srcObject).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let peak = 0;
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 50));
    analyser.getFloatTimeDomainData(samples);
    for (const s of samples) peak = Math.max(peak, Math.abs(s));
  }
  await ctx.close();
  return peak;
}"""

# Reports every media element's play() outcome on the console (installed before page code).
PLAY_REPORTER_JS = """(() => {
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    const sound = this.muted ? "muted" : "unmuted";
    const started = play.call(this);
    started.then(
      () => console.log("play:ok:" + sound),
      (e) => console.log("play:" + e.name + ":" + sound),
    );
    return started;
  };
})();"""

FRAMES_JS = """(selector) => { const v = document.querySelector(selector);
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : -1; }"""


def _sign_in(
    browser, base: str, email: str, permissions: tuple[str, ...] = ("camera", "microphone")
):
    context = browser.new_context(permissions=list(permissions))
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] [type=submit], form[action='/login'] button")
    page.wait_for_url(f"{base}/")
    return page


def _room_of(sfu) -> str:
    from portal.core.models import Meeting
    from portal.extensions import db

    db.session.expire_all()
    return db.session.execute(db.select(Meeting)).scalar_one().backend_meeting_id


def _publishers_of(sfu, room: str, user_id: int) -> list[dict]:
    return [
        s
        for s in sfu.pool.call(room, "room")["sessions"]
        if s["role"] == "publish" and s["user_id"] == user_id
    ]


def _wait(predicate, timeout: float = 30.0):
    """Poll an outside-the-page condition (the SFU worker's state), bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    return predicate()


def _teacher_goes_live(browser, base, sfu):
    teacher = _sign_in(browser, base, sfu.teacher.email)
    teacher.goto(f"{base}/schedules/{sfu.schedule.id}")
    teacher.click("#start-btn")
    teacher.click("#embed [data-action=camera]")
    teacher.wait_for_function(
        "() => document.querySelector('#embed .sfu-status').textContent === 'You are live'"
    )
    return teacher


@pytest.mark.browser
def test_a_student_hears_the_teacher_after_the_one_click_the_page_asks_for(sfu, portal_url):
    from playwright.sync_api import sync_playwright

    args = [a for a in MEDIA_ARGS if not a.startswith("--autoplay-policy")]
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, *args, "--autoplay-policy=user-gesture-required")
        try:
            teacher = _teacher_goes_live(browser, portal_url, sfu)
            # The teacher's own preview never plays their microphone back to them.
            preview_muted = teacher.evaluate(
                "document.querySelector('#embed .sfu-local video').muted"
            )

            signed_in = _sign_in(browser, portal_url, sfu.student.email)
            # A fresh tab of the signed-in student, touched by nothing but the page's own code
            # until its sound is decided: Playwright's evaluations count as user gestures,
            # so the page reports what play() answered on the console instead.
            student = signed_in.context.new_page()
            signed_in.close()
            plays: list[str] = []
            student.on(
                "console",
                lambda message: (
                    plays.append(message.text) if message.text.startswith("play:") else None
                ),
            )
            student.add_init_script(PLAY_REPORTER_JS)
            student.goto(f"{portal_url}/schedules/{sfu.schedule.id}")
            for _ in range(200):
                if "play:ok:muted" in plays:
                    break
                student.wait_for_timeout(250)
            tile = f"#embed .sfu-tile[data-user-id='{sfu.teacher.id}'] video"
            hear = student.locator("#embed [data-action=hear]")
            refused_with_sound = "play:NotAllowedError:unmuted" in plays
            hear_visible = hear.is_visible()
            hear_buttons = student.locator("text=Click to hear the class").count()
            muted_before = student.evaluate(f'document.querySelector("{tile}").muted')
            student.wait_for_function(
                f'() => {{ const v = document.querySelector("{tile}"); return v.videoWidth > 0 '
                f"&& v.currentTime > 0.5; }}"
            )
            hear.click()
            student.wait_for_function(
                f'() => !document.querySelector("{tile}").muted && '
                f'!document.querySelector("{tile}").paused'
            )
            hidden_after = hear.is_hidden()
            peak = student.evaluate(PEAK_LEVEL_JS, tile)
            # The page's own speaking indicator measures the same sound.
            student.wait_for_function(
                '() => parseFloat(document.querySelector("#embed '
                f".sfu-tile[data-user-id='{sfu.teacher.id}']\")"
                ".dataset.peak || '0') > 0.01"
            )
            # Per-tile controls: mute and volume change only that tile.
            student.click(f"#embed .sfu-tile[data-user-id='{sfu.teacher.id}'] .sfu-tile-mute")
            muted_by_tile = student.evaluate(f'document.querySelector("{tile}").muted')
            student.click(f"#embed .sfu-tile[data-user-id='{sfu.teacher.id}'] .sfu-tile-mute")
            student.eval_on_selector(
                f"#embed .sfu-tile[data-user-id='{sfu.teacher.id}'] .sfu-tile-volume",
                "(slider) => { slider.value = '0.25'; slider.dispatchEvent(new Event('input')); }",
            )
            volume = student.evaluate(f'document.querySelector("{tile}").volume')
            unmuted_again = not student.evaluate(f'document.querySelector("{tile}").muted')
        finally:
            browser.close()
    assert preview_muted is True
    # Unmuted autoplay was refused, the picture then played muted, with the one control shown.
    assert refused_with_sound and "play:ok:muted" in plays, plays
    assert hear_visible
    assert hear_buttons == 1
    assert muted_before is True
    assert hidden_after is True
    assert peak > 0.01, peak
    assert muted_by_tile is True
    assert volume == 0.25 and unmuted_again


@pytest.mark.browser
def test_raise_hand_grant_watch_hear_withdraw_and_mute_a_student(sfu, portal_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, *MEDIA_ARGS)
        try:
            teacher = _teacher_goes_live(browser, portal_url, sfu)
            room = _room_of(sfu)
            student = _sign_in(browser, portal_url, sfu.student.email)
            student.goto(f"{portal_url}/schedules/{sfu.schedule.id}")
            student.wait_for_selector(f"#embed .sfu-tile[data-user-id='{sfu.teacher.id}'] video")
            # Nothing granted: the student's room offers no way to publish.
            offered = student.locator("#embed .sfu-controls button:visible").all_text_contents()

            student.click("#hand-btn")
            student.wait_for_function(
                "() => document.querySelector('#hand-btn').textContent === 'Lower hand'"
            )
            queued = teacher.locator(f"#hands-queue li[data-user-id='{sfu.student.id}']")
            queued.wait_for()
            queued.locator("text=Grant camera").click()
            granted = teacher.locator(f"#floor-granted li[data-user-id='{sfu.student.id}']")
            granted.locator("text=Grant mic").click()
            granted.locator("text=Mute").wait_for()

            # The student's page starts publishing what was granted by itself ...
            student.wait_for_function(
                "() => document.querySelector('#embed .sfu-status').textContent === 'You are live'"
                " && !!window.portalSfuRoom.mine.camera && "
                "window.portalSfuRoom.mine.camera.kinds().length === 2",
                timeout=45_000,
            )
            controls = student.locator("#embed .sfu-controls button:visible").all_text_contents()
            # ... and the teacher's page decodes its frames and hears it. The mic was granted
            # after the camera, so its track may reach the teacher's tile a moment after the
            # first frames: wait for both before listening.
            of_student = f"#embed .sfu-tile[data-user-id='{sfu.student.id}'] video"
            teacher.wait_for_function(
                f'() => {{ const v = document.querySelector("{of_student}");'
                " return v && v.videoWidth > 0 && v.srcObject"
                " && v.srcObject.getAudioTracks().length > 0; }",
                timeout=45_000,
            )
            frames_a = teacher.evaluate(FRAMES_JS, of_student)
            student_peak = teacher.evaluate(PEAK_LEVEL_JS, of_student)
            frames_b = teacher.evaluate(FRAMES_JS, of_student)
            publishing = _publishers_of(sfu, room, sfu.student.id)

            # Mute: the SFU stops forwarding the student's audio; their page says so.
            granted.locator("text=Mute").click()
            student.wait_for_function(
                "() => document.querySelector('#embed "
                ".sfu-floor-note').textContent.includes('muted your microphone')"
            )
            student_session = publishing[-1]["id"]

            def forwarded():
                return [
                    s["forwarded"]
                    for s in sfu.pool.call(room, "room")["sessions"]
                    if s["publisher_id"] == student_session
                ]

            first = _wait(lambda: next(iter(forwarded()), None))
            later = _wait(
                lambda: next(
                    (f for f in forwarded() if f.get("video", 0) >= first.get("video", 0) + 60),
                    None,
                )
            )
            muted_state = [
                s for s in _publishers_of(sfu, room, sfu.student.id) if s["id"] == student_session
            ]

            # Withdraw: the student's stream ends at the SFU and on the teacher's page.
            granted.locator("text=Withdraw").click()
            gone_at_sfu = _wait(lambda: _publishers_of(sfu, room, sfu.student.id) == [], timeout=10)
            teacher.wait_for_selector(of_student, state="detached", timeout=30_000)
            student.wait_for_function(
                "() => document.querySelector('#embed "
                ".sfu-floor-note').textContent.includes('took back the floor')"
            )
            after_withdraw = student.locator(
                "#embed .sfu-controls button:visible"
            ).all_text_contents()
            still_none = _publishers_of(sfu, room, sfu.student.id)
        finally:
            browser.close()
    assert offered == []
    assert "Stop camera" in controls and "Mute" in controls and "Share screen" not in controls
    assert frames_b > frames_a > 0
    assert student_peak > 0.01, student_peak
    assert len(publishing) == 1 and sorted(publishing[0]["kinds"]) == ["audio", "video"]
    assert later["video"] - first["video"] >= 60
    assert later["audio"] - first["audio"] <= 3, (first, later)
    assert muted_state and muted_state[0]["audio_muted"] is True
    assert gone_at_sfu
    assert after_withdraw == [] and still_none == []


@pytest.mark.browser
def test_a_student_given_the_screen_shares_it_with_its_sound_until_it_is_withdrawn(
    sfu, login, portal_url
):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium picks the (fake) screen by itself, with its (fake) sound.
        browser = launch_chromium(
            playwright, *MEDIA_ARGS, "--auto-select-desktop-capture-source=Entire screen"
        )
        try:
            teacher = _teacher_goes_live(browser, portal_url, sfu)
            room = _room_of(sfu)
            student = _sign_in(browser, portal_url, sfu.student.email)
            student.goto(f"{portal_url}/schedules/{sfu.schedule.id}")
            student.wait_for_selector(f"#embed .sfu-tile[data-user-id='{sfu.teacher.id}'] video")
            share = student.locator("#embed [data-action=screen]")
            hidden_before = share.is_hidden()
            granted = login(sfu.teacher).post(
                f"/api/schedules/{sfu.schedule.id}/floor/grant",
                json={"user_id": sfu.student.id, "screen": True},
            )
            share.wait_for(state="visible")
            # Only the screen was granted: no camera or microphone controls.
            offered = student.locator("#embed .sfu-controls button:visible").all_text_contents()
            share.click()
            screen_tile = (
                f"#embed .sfu-tile[data-user-id='{sfu.student.id}'][data-label='screen'] video"
            )
            teacher.wait_for_function(
                f'() => {{ const v = document.querySelector("{screen_tile}");'
                " return v && v.videoWidth > 0; }",
                timeout=45_000,
            )
            frames_a = teacher.evaluate(FRAMES_JS, screen_tile)
            peak = teacher.evaluate(PEAK_LEVEL_JS, screen_tile)
            frames_b = teacher.evaluate(FRAMES_JS, screen_tile)
            sharing = _publishers_of(sfu, room, sfu.student.id)

            withdrawn = login(sfu.teacher).post(
                f"/api/schedules/{sfu.schedule.id}/floor/withdraw",
                json={"user_id": sfu.student.id, "screen": True},
            )
            gone_at_sfu = _wait(lambda: _publishers_of(sfu, room, sfu.student.id) == [], timeout=10)
            teacher.wait_for_selector(screen_tile, state="detached", timeout=30_000)
            share.wait_for(state="hidden")
        finally:
            browser.close()
    assert hidden_before
    assert granted.status_code == 200 and withdrawn.status_code == 200
    assert offered == ["Share screen"]
    assert frames_b > frames_a > 0
    assert peak > 0.01, peak
    assert [(s["label"], sorted(s["kinds"])) for s in sharing] == [("screen", ["audio", "video"])]
    assert gone_at_sfu
