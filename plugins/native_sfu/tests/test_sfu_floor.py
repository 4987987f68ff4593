"""The floor enforced at the SFU (not only in the page), with aiortc peers over WHIP/WHEP:
a student publishes only what the teacher granted, a withdrawal closes their streams in
the worker at once and a new publish is refused, a muted microphone is not forwarded."""

from __future__ import annotations

import pytest
from aiortc.mediastreams import AudioStreamTrack
from sfu_helpers import Publisher, Viewer, wait_for
from test_sfu_forwarding import join_embed, room_state, run, start_class

from portal.core.models import FloorSeat
from portal.extensions import db

# Real-time media (durations, frame and sound timing): one such file at a time, on one
# pytest-xdist worker, so two never compete for the CPU with each other.
pytestmark = pytest.mark.xdist_group("media")


def publisher_sessions(sfu, embed, user_id):
    return [
        s
        for s in room_state(sfu, embed)["sessions"]
        if s["role"] == "publish" and s["user_id"] == user_id
    ]


def session_of(sfu, embed, session_id):
    return next((s for s in room_state(sfu, embed)["sessions"] if s["id"] == session_id), None)


def test_granted_student_is_watched_withdrawn_is_cut_off_at_the_sfu_and_refused_again(
    sfu, login, client
):
    teacher, embed = start_class(sfu, login)
    sid = sfu.schedule.id
    token = join_embed(login(sfu.student), sfu)["token"]

    async def scenario():
        out = {}
        early = Publisher()
        out["before_grant"] = await early.start(client, embed["whip_url"], token)
        await early.close()

        out["grant"] = teacher.post(
            f"/api/schedules/{sid}/floor/grant", json={"user_id": sfu.student.id, "camera": True}
        )
        # Camera granted, microphone not: an offer with sound is refused, video alone is fine.
        with_sound = Publisher()
        with_sound.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        out["with_sound"] = await with_sound.start(client, embed["whip_url"], token)
        await with_sound.close()
        camera = Publisher(160, 120)
        out["granted"] = await camera.start(client, embed["whip_url"], token)
        session_id = out["granted"].headers["Location"].rsplit("/", 1)[1]
        watcher = Viewer()
        out["watch"] = (
            await watcher.start(
                client, embed["whep_url"] + f"?publisher={session_id}", embed["token"]
            )
        ).status_code
        out["watched"] = await wait_for(lambda: len(watcher.frames) >= 15, timeout=30)
        out["publishers_before"] = len(publisher_sessions(sfu, embed, sfu.student.id))

        out["withdraw"] = teacher.post(
            f"/api/schedules/{sid}/floor/withdraw", json={"user_id": sfu.student.id}
        )
        # The worker closed the student's stream and its viewers before the answer came back.
        out["publishers_after"] = publisher_sessions(sfu, embed, sfu.student.id)
        out["watcher_after"] = session_of(sfu, embed, watcher.location.rsplit("/", 1)[1])
        frames_at_withdraw = len(watcher.frames)
        again = Publisher()
        out["again"] = await again.start(client, embed["whip_url"], token)
        await again.close()
        out["publishers_end"] = publisher_sessions(sfu, embed, sfu.student.id)
        await wait_for(lambda: False, timeout=1.0)
        out["frames_after"] = len(watcher.frames) - frames_at_withdraw
        await watcher.close()
        await camera.close()
        return out

    out = run(scenario())
    refused = out["before_grant"]
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "floor_not_granted"
    assert out["grant"].status_code == 200
    assert out["with_sound"].status_code == 403
    assert "mic" in out["with_sound"].get_json()["error"]["message"]
    assert out["granted"].status_code == 201
    assert out["watch"] == 201 and out["watched"]
    assert out["publishers_before"] == 1
    assert out["withdraw"].status_code == 200
    assert out["publishers_after"] == []
    assert out["watcher_after"] is None
    assert out["again"].status_code == 403
    assert out["again"].get_json()["error"] == {
        "code": "floor_not_granted",
        "message": "only the teacher, and students the teacher gives the floor, can publish in "
        "this class",
    }
    assert out["publishers_end"] == []
    # At most the frames already in flight arrived after the cut.
    assert out["frames_after"] <= 5


def test_muted_microphone_is_not_forwarded_until_the_teacher_gives_it_back(sfu, login, client):
    teacher, embed = start_class(sfu, login)
    sid = sfu.schedule.id
    token = join_embed(login(sfu.student), sfu)["token"]
    teacher.post(
        f"/api/schedules/{sid}/floor/grant",
        json={"user_id": sfu.student.id, "mic": True, "camera": True},
    )

    def forwarded(watcher):
        return session_of(sfu, embed, watcher.location.rsplit("/", 1)[1])["forwarded"]

    async def scenario():
        out = {}
        student = Publisher(160, 120)
        student.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        published = await student.start(client, embed["whip_url"], token)
        assert published.status_code == 201, published.get_json()
        session_id = published.headers["Location"].rsplit("/", 1)[1]
        watcher = Viewer(audio=True)
        assert (
            await watcher.start(
                client, embed["whep_url"] + f"?publisher={session_id}", embed["token"]
            )
        ).status_code == 201
        assert await wait_for(
            lambda: watcher.audio_frames >= 25 and len(watcher.frames) >= 15, timeout=30
        )

        out["mute"] = teacher.post(
            f"/api/schedules/{sid}/floor/mute", json={"user_id": sfu.student.id}
        )
        # Let what was queued before the mute drain (half a second of video), then measure.
        video_at_mute = forwarded(watcher)["video"]
        assert await wait_for(lambda: forwarded(watcher)["video"] >= video_at_mute + 15, timeout=15)
        muted_from = forwarded(watcher)
        assert await wait_for(
            lambda: forwarded(watcher)["video"] >= muted_from["video"] + 60, timeout=20
        )
        muted_to = forwarded(watcher)
        out["publisher_muted"] = session_of(sfu, embed, session_id)

        out["unmute"] = teacher.post(
            f"/api/schedules/{sid}/floor/grant", json={"user_id": sfu.student.id, "mic": True}
        )
        out["resumed"] = await wait_for(
            lambda: forwarded(watcher)["audio"] >= muted_to["audio"] + 25, timeout=20
        )
        await watcher.close()
        await student.close()
        return out, muted_from, muted_to

    out, muted_from, muted_to = run(scenario())
    assert out["mute"].status_code == 200
    # 60 video frames (2 s) went through while not one audio packet did.
    assert muted_to["video"] - muted_from["video"] >= 60
    assert muted_to["audio"] == muted_from["audio"]
    assert out["publisher_muted"]["audio_muted"] is True
    assert out["publisher_muted"]["suppressed"]["audio"] > 0
    assert out["unmute"].status_code == 200 and out["unmute"].get_json()["mic_muted"] is False
    assert out["resumed"]


def test_the_old_allow_endpoint_grants_through_the_floor(sfu, login):
    teacher, embed = start_class(sfu, login)
    room = embed["room"]
    allowed = teacher.post(f"/sfu/rooms/{room}/publishers/allow", json={"user_id": sfu.student.id})
    assert allowed.status_code == 200
    assert allowed.get_json()["floor"] == {
        "mic": True,
        "camera": True,
        "screen": True,
        "mic_muted": False,
    }
    student = login(sfu.student)
    listed = student.get(f"/sfu/rooms/{room}/publishers").get_json()
    assert listed["can_publish"] is True and listed["floor"]["camera"] is True
    assert join_embed(student, sfu)["floor"]["mic"] is True
    refused = student.post(
        f"/sfu/rooms/{room}/publishers/allow", json={"user_id": sfu.classmate.id}
    )
    assert refused.status_code == 403
    outsider = teacher.post(
        f"/sfu/rooms/{room}/publishers/allow", json={"user_id": sfu.outsider.id}
    )
    assert outsider.status_code == 404 and outsider.get_json()["error"]["code"] == "not_a_member"
    db.session.expire_all()
    rows = db.session.execute(db.select(FloorSeat.user_id, FloorSeat.mic)).all()
    assert rows == [(sfu.student.id, True)]


def test_cameras_for_teachers_only_refuses_a_granted_students_camera_at_the_sfu(sfu, login, client):
    """The room setting "Only teachers may turn on their camera" binds the SFU itself: even
    with the floor granted, a student's camera publish is refused with words saying why."""
    teacher = login(sfu.teacher)
    changed = teacher.patch(
        f"/api/classes/{sfu.klass.id}", json={"room_settings": {"cameras_teachers_only": True}}
    )
    assert changed.status_code == 200, changed.get_json()
    teacher, embed = start_class(sfu, login)
    sid = sfu.schedule.id
    granted = teacher.post(
        f"/api/schedules/{sid}/floor/grant", json={"user_id": sfu.student.id, "camera": True}
    )
    assert granted.status_code == 200
    student_embed = join_embed(login(sfu.student), sfu)
    assert student_embed["floor"]["camera"] is False

    async def scenario():
        camera = Publisher(160, 120)
        refused = await camera.start(client, embed["whip_url"], student_embed["token"])
        await camera.close()
        return refused

    refused = run(scenario())
    assert refused.status_code == 403
    assert refused.get_json()["error"] == {
        "code": "room_setting",
        "message": "only teachers may turn on their camera in this class",
    }
