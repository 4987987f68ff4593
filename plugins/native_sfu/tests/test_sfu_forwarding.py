"""WHIP/WHEP over loopback with aiortc peers: forwarding, keyframes, auth, cleanup, recording."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sfu_helpers import Publisher, Viewer, offline_pc, post_sdp, wait_for

from portal.core.models import FloorSeat
from portal.extensions import db

# Real-time media (durations, frame and sound timing): one such file at a time, on one
# pytest-xdist worker, so two never compete for the CPU with each other.
pytestmark = pytest.mark.xdist_group("media")

HERE = Path(__file__).resolve().parent


def start_class(sfu, login):
    teacher = login(sfu.teacher)
    response = teacher.post(f"/api/schedules/{sfu.schedule.id}/start")
    assert response.status_code == 200, response.get_json()
    join = response.get_json()["join"]
    assert join["kind"] == "embed"
    return teacher, join["embed"]


def join_embed(api, sfu):
    response = api.post(f"/api/schedules/{sfu.schedule.id}/join")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["embed"]


def room_state(sfu, embed):
    return sfu.pool.call(embed["room"], "room")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_three_viewers_get_every_frame_in_order_at_the_publishers_rate(sfu, login, client):
    _teacher, embed = start_class(sfu, login)
    tokens = [
        join_embed(login(user), sfu)["token"] for user in (sfu.student, sfu.classmate, sfu.admin)
    ]

    async def scenario():
        publisher = Publisher()
        response = await publisher.start(client, embed["whip_url"], embed["token"])
        assert response.status_code == 201, response.get_data(as_text=True)
        viewers = [Viewer() for _ in tokens]
        for viewer, token in zip(viewers, tokens, strict=True):
            assert (await viewer.start(client, embed["whep_url"], token)).status_code == 201
        # 90 frames = 3 s of the publisher's 30 fps clock.
        assert await wait_for(lambda: all(len(v.frames) >= 90 for v in viewers), timeout=30)
        sent = publisher.track.counter
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
        return viewers, sent

    viewers, sent = run(scenario())
    for viewer in viewers:
        counters = viewer.counters
        assert all(b > a for a, b in zip(counters, counters[1:], strict=False)), (
            "frames out of order"
        )
        span = counters[-1] - counters[0] + 1
        # The viewer saw (almost) every frame the 30 fps publisher produced in that span:
        # its frame rate is the publisher's, with no decode/re-encode drops.
        assert len(counters) / span >= 0.9, (len(counters), span)
        assert counters[-1] <= sent


def test_a_late_viewer_gets_a_picture_quickly_because_its_keyframe_request_is_forwarded(
    sfu, login, client
):
    _teacher, embed = start_class(sfu, login)
    token = join_embed(login(sfu.student), sfu)["token"]

    async def scenario():
        publisher = Publisher()
        assert (await publisher.start(client, embed["whip_url"], embed["token"])).status_code == 201
        early = Viewer()
        assert (await early.start(client, embed["whep_url"], embed["token"])).status_code == 201
        # Let the stream run well past its first keyframe. aiortc's encoder only makes a
        # keyframe every 3000 frames (100 s) unless asked: without PLI forwarding a late
        # viewer would see nothing for minutes.
        assert await wait_for(lambda: len(early.frames) >= 45, timeout=30)
        joined_at = publisher.track.counter
        late = Viewer()
        assert (await late.start(client, embed["whep_url"], token)).status_code == 201
        assert await wait_for(lambda: len(late.frames) >= 1, timeout=15)
        first = late.counters[0]
        state = room_state(sfu, embed)
        for peer in (late, early, publisher):
            await peer.close()
        return joined_at, first, state

    joined_at, first, state = run(scenario())
    # The late viewer's first picture was produced within one second (30 frames) of joining.
    assert first - joined_at <= 30, (joined_at, first)
    published = next(s for s in state["sessions"] if s["role"] == "publish")
    assert published["plis_sent"]["video"] >= 1
    assert published["keyframes"]["video"] >= 2


def test_only_the_teacher_and_allowed_students_publish_and_only_members_watch(
    sfu, login, client, make_user
):
    from portal.core import blocking

    teacher, embed = start_class(sfu, login)
    student = login(sfu.student)
    student_token = join_embed(student, sfu)["token"]
    outsider_token = login(sfu.outsider).token
    room = embed["room"]

    async def scenario():
        results = {}
        pub = Publisher()
        sdp = await pub.offer()
        results["no_token"] = post_sdp(client, embed["whip_url"], None, sdp).status_code
        results["student_publish"] = post_sdp(client, embed["whip_url"], student_token, sdp)
        results["outsider_watch"] = post_sdp(
            client, embed["whep_url"], outsider_token, sdp
        ).status_code
        await pub.close()

        # The teacher lets the student publish; then takes it back, which ends the stream.
        allow = teacher.post(
            f"/sfu/rooms/{room}/publishers/allow", json={"user_id": sfu.student.id}
        )
        results["allow"] = allow.status_code
        results["student_allow_other"] = student.post(
            f"/sfu/rooms/{room}/publishers/allow", json={"user_id": sfu.classmate.id}
        ).status_code
        allowed = Publisher()
        results["allowed_publish"] = (
            await allowed.start(client, embed["whip_url"], student_token)
        ).status_code
        results["sessions_before_revoke"] = len(room_state(sfu, embed)["sessions"])
        teacher.post(
            f"/sfu/rooms/{room}/publishers/allow",
            json={"user_id": sfu.student.id, "allowed": False},
        )
        results["sessions_after_revoke"] = len(room_state(sfu, embed)["sessions"])
        await allowed.close()

        blocking.block_user(
            sfu.teacher,
            user_id=sfu.classmate.id,
            scope="class",
            reason="spamming",
            class_id=sfu.klass.id,
        )
        db.session.commit()
        classmate_token = login(sfu.classmate).token
        watcher = Viewer()
        results["blocked_watch"] = (
            await watcher.start(client, embed["whep_url"], classmate_token)
        ).status_code
        await watcher.close()
        return results

    results = run(scenario())
    assert results["no_token"] == 401
    assert results["student_publish"].status_code == 403
    assert "teacher" in results["student_publish"].get_json()["error"]["message"]
    assert results["outsider_watch"] == 404
    assert results["allow"] == 200
    assert results["student_allow_other"] == 403
    assert results["allowed_publish"] == 201
    assert results["sessions_before_revoke"] == 1
    assert results["sessions_after_revoke"] == 0
    assert results["blocked_watch"] == 403
    # The allow list is the core's floor now: the student holds nothing after the revoke.
    seat = db.session.execute(db.select(FloorSeat)).scalar_one()
    assert (seat.user_id, seat.mic, seat.camera, seat.screen) == (
        sfu.student.id,
        False,
        False,
        False,
    )


def test_whip_protocol_answers(sfu, login, client):
    from portal.core.models import BackendConfig

    config = db.session.get(BackendConfig, sfu.sfu_config.id)
    config.settings = {"stun_urls": ["stun:stun.school.example:3478"]}
    db.session.commit()
    _teacher, embed = start_class(sfu, login)
    token = embed["token"]
    auth = {"Authorization": f"Bearer {token}"}

    async def scenario():
        out = {}
        pub = Publisher()
        sdp = await pub.offer()
        out["options"] = client.open(embed["whip_url"], method="OPTIONS", headers=auth)
        out["wrong_type"] = post_sdp(
            client, embed["whip_url"], token, sdp, content_type="application/json"
        )
        out["garbage"] = post_sdp(client, embed["whip_url"], token, "hello world")
        two_videos = Publisher()
        two_videos.pc.addTransceiver("video", direction="sendonly")
        out["too_many"] = post_sdp(client, embed["whip_url"], token, await two_videos.offer())
        await two_videos.close()
        early = Viewer()
        await early.pc.setLocalDescription(await early.pc.createOffer())
        out["viewer_before_publisher"] = post_sdp(
            client, embed["whep_url"], token, early.pc.localDescription.sdp
        )
        await early.close()
        created = await pub.start(client, embed["whip_url"], token)
        out["created"] = created
        audio_only = offline_pc()
        audio_only.addTransceiver("audio", direction="recvonly")
        await audio_only.setLocalDescription(await audio_only.createOffer())
        out["nothing_to_watch"] = post_sdp(
            client, embed["whep_url"], token, audio_only.localDescription.sdp
        )
        await audio_only.close()
        out["patch"] = client.patch(
            created.headers["Location"],
            data=b"a=candidate",
            headers=auth,
            content_type="application/trickle-ice-sdpfrag",
        )
        out["delete"] = client.delete(created.headers["Location"], headers=auth)
        out["delete_again"] = client.delete(created.headers["Location"], headers=auth)
        await pub.close()
        return out

    out = run(scenario())
    assert out["options"].status_code == 204
    assert out["options"].headers["Accept-Post"] == "application/sdp"
    assert '<stun:stun.school.example:3478>; rel="ice-server"' in out["options"].headers.getlist(
        "Link"
    )
    assert out["wrong_type"].status_code == 415
    assert out["wrong_type"].headers["Accept-Post"] == "application/sdp"
    assert out["garbage"].status_code == 400
    assert out["too_many"].status_code == 406
    assert "at most" in out["too_many"].get_json()["error"]["message"]
    assert out["viewer_before_publisher"].status_code == 409
    created = out["created"]
    assert created.status_code == 201
    assert created.mimetype == "application/sdp"
    assert created.get_data(as_text=True).startswith("v=0")
    assert created.headers["Location"].startswith(f"/sfu/rooms/{embed['room']}/sessions/")
    assert created.headers["ETag"].startswith('"')
    assert '<stun:stun.school.example:3478>; rel="ice-server"' in created.headers.getlist("Link")
    assert out["nothing_to_watch"].status_code == 406
    assert out["nothing_to_watch"].get_json()["error"]["code"] == "no_matching_tracks"
    assert out["patch"].status_code == 501  # no trickle ICE (RFC 9725 4.3.1)
    assert out["delete"].status_code == 200
    assert out["delete_again"].status_code == 404


def test_several_publishers_per_room_each_watchable_by_id_with_audio(sfu, login, client):
    from aiortc.mediastreams import AudioStreamTrack

    from portal.core.models import BackendConfig

    config = db.session.get(BackendConfig, sfu.sfu_config.id)
    config.settings = {"max_publishers": 2}
    db.session.commit()
    teacher, embed = start_class(sfu, login)
    room = embed["room"]
    teacher.post(f"/sfu/rooms/{room}/publishers/allow", json={"user_id": sfu.student.id})
    student_token = join_embed(login(sfu.student), sfu)["token"]
    viewer_token = join_embed(login(sfu.classmate), sfu)["token"]

    async def scenario():
        camera = Publisher(320, 240)
        camera.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        assert (
            await camera.start(client, embed["whip_url"] + "?label=camera", embed["token"])
        ).status_code == 201
        student_cam = Publisher(160, 120)
        assert (
            await student_cam.start(client, embed["whip_url"], student_token)
        ).status_code == 201
        third = Publisher(160, 120)
        refused = await third.start(client, embed["whip_url"] + "?label=screen", embed["token"])
        await third.close()
        listed = client.get(
            f"/sfu/rooms/{room}/publishers", headers={"Authorization": f"Bearer {viewer_token}"}
        )
        ids = {row["user_id"]: row["id"] for row in listed.get_json()["publishers"]}
        of_teacher, of_student = Viewer(audio=True), Viewer()
        assert (
            await of_teacher.start(
                client, embed["whep_url"] + f"?publisher={ids[sfu.teacher.id]}", viewer_token
            )
        ).status_code == 201
        assert (
            await of_student.start(
                client, embed["whep_url"] + f"?publisher={ids[sfu.student.id]}", viewer_token
            )
        ).status_code == 201
        ok = await wait_for(
            lambda: (
                len(of_teacher.frames) >= 30
                and len(of_student.frames) >= 30
                and of_teacher.audio_frames >= 25
            ),
            timeout=30,
        )
        assert ok, (
            len(of_teacher.frames),
            len(of_student.frames),
            of_teacher.audio_frames,
            sfu.pool.call(room, "room"),
        )
        for peer in (of_teacher, of_student, camera, student_cam):
            await peer.close()
        return refused, of_teacher, of_student

    refused, of_teacher, of_student = run(scenario())
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "too_many_publishers"
    assert of_teacher.sizes == {(320, 240)}
    assert of_student.sizes == {(160, 120)}
    assert of_teacher.audio_frames >= 25


def test_a_crashed_worker_is_restarted_and_the_room_recreated_on_the_next_offer(sfu, login, client):
    import psutil

    _teacher, embed = start_class(sfu, login)
    room = embed["room"]
    index = sfu.pool.index_for(room)
    pid = sfu.pool.call(None, "ping", index=index)["pid"]
    victim = psutil.Process(pid)
    victim.kill()
    victim.wait(10)

    async def scenario():
        publisher = Publisher(160, 120)
        response = await publisher.start(client, embed["whip_url"], embed["token"])
        viewer = Viewer()
        watched = await viewer.start(client, embed["whep_url"], embed["token"])
        got = await wait_for(lambda: len(viewer.frames) >= 10, timeout=30)
        await viewer.close()
        await publisher.close()
        return response, watched, got

    response, watched, got = run(scenario())
    assert response.status_code == 201, response.get_data(as_text=True)
    assert watched.status_code == 201
    assert got
    assert sfu.pool.call(None, "ping", index=index)["pid"] != pid


def test_one_person_cannot_open_unlimited_sessions(sfu, login, client):
    _teacher, embed = start_class(sfu, login)
    sfu.pool.call(embed["room"], "ensure_room", {"max_sessions_per_user": 2})
    token = join_embed(login(sfu.student), sfu)["token"]

    async def scenario():
        publisher = Publisher(160, 120)
        assert (await publisher.start(client, embed["whip_url"], embed["token"])).status_code == 201
        viewers = [Viewer() for _ in range(3)]
        codes = [(await v.start(client, embed["whep_url"], token)).status_code for v in viewers]
        body = viewers[-1].response.get_json()
        freed = client.delete(
            viewers[0].location, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        again = Viewer()
        retry = (await again.start(client, embed["whep_url"], token)).status_code
        for peer in (*viewers, again, publisher):
            await peer.close()
        return codes, body, freed, retry

    codes, body, freed, retry = run(scenario())
    assert codes == [201, 201, 429]
    assert body["error"]["code"] == "too_many_sessions"
    assert freed == 200
    assert retry == 201
