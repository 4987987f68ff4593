"""Guests on the built-in SFU: a guest the teacher admitted from the lobby gets a viewer
session (WHEP with the guest's room credential) and receives the teacher's frames; a guest
never publishes (WHIP 403, floor or not), and the credential opens no other room and dies
with the invite link."""

from __future__ import annotations

import asyncio

from portal_testing import enter_as_guest
from sfu_helpers import Publisher, Viewer, wait_for

from portal.core import invites
from portal.core.models import Guest
from portal.extensions import db


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def _admitted_guest_embed(sfu, login, app, *, viewer_only: bool = False):
    guest, guest_id = enter_as_guest(app, sfu.teacher, sfu.klass.id, viewer_only=viewer_only)
    sid = sfu.schedule.id
    assert guest.post(f"/api/guest/schedules/{sid}/knock").get_json()["waits_in"] == "portal"
    held = guest.post(f"/api/guest/schedules/{sid}/join")
    assert held.status_code == 409 and held.get_json()["error"]["code"] == "waiting_room"
    login(sfu.teacher).post(f"/api/schedules/{sid}/lobby/admit", json={"guest_ids": [guest_id]})
    joined = guest.post(f"/api/guest/schedules/{sid}/join")
    assert joined.status_code == 200, joined.get_json()
    return db.session.get(Guest, guest_id).link, joined.get_json()["embed"]


def _start(sfu, login):
    started = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    assert started.status_code == 200, started.get_json()
    return started.get_json()["join"]["embed"]


def test_an_admitted_guest_watches_the_teacher_and_never_publishes(sfu, login, app, client):
    teacher_embed = _start(sfu, login)
    _link, embed = _admitted_guest_embed(sfu, login, app)
    assert embed["can_publish"] is False and embed["manager"] is False
    assert embed["user_id"] < 0  # never a user's id

    async def scenario():
        publisher = Publisher()
        published = await publisher.start(client, teacher_embed["whip_url"], teacher_embed["token"])
        assert published.status_code == 201, published.get_data(as_text=True)
        viewer = Viewer()
        watched = await viewer.start(client, embed["whep_url"], embed["token"])
        assert watched.status_code == 201, watched.get_data(as_text=True)
        assert await wait_for(lambda: len(viewer.frames) >= 30, timeout=30)
        own = Publisher()
        refused = await own.start(client, embed["whip_url"], embed["token"])
        listed = client.get(
            embed["publishers_url"], headers={"Authorization": f"Bearer {embed['token']}"}
        )
        for peer in (viewer, own, publisher):
            await peer.close()
        return viewer, refused, listed

    viewer, refused, listed = run(scenario())
    counters = viewer.counters
    assert len(counters) >= 30 and counters == sorted(counters)  # the teacher's frames, in order
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "floor_not_granted"
    assert listed.status_code == 200 and listed.get_json()["can_publish"] is False


def test_a_viewer_only_guest_is_refused_even_with_the_floor(sfu, login, app, client):
    _start(sfu, login)
    _link, embed = _admitted_guest_embed(sfu, login, app, viewer_only=True)
    # The teacher cannot hand a guest the floor: the SFU refuses the guest's publish anyway.
    floor = login(sfu.teacher).post(
        f"/api/schedules/{sfu.schedule.id}/floor/grant",
        json={"user_id": embed["user_id"], "mic": True, "camera": True},
    )
    assert floor.status_code in (400, 404, 422)

    async def scenario():
        own = Publisher()
        refused = await own.start(client, embed["whip_url"], embed["token"])
        await own.close()
        return refused

    assert run(scenario()).status_code == 403


def test_the_guest_credential_opens_no_other_room_and_ends_with_the_link(sfu, login, app, client):
    _start(sfu, login)
    link, embed = _admitted_guest_embed(sfu, login, app)
    headers = {"Authorization": f"Bearer {embed['token']}"}
    assert client.get(embed["publishers_url"], headers=headers).status_code == 200
    other = embed["publishers_url"].replace(embed["room"], embed["room"] + "-other")
    assert client.get(other, headers=headers).status_code == 404
    tampered = {"Authorization": f"Bearer {embed['token'][:-3]}xyz"}
    assert client.get(embed["publishers_url"], headers=tampered).status_code == 401
    invites.revoke_link(sfu.teacher, link.id)
    db.session.commit()
    ended = client.get(embed["publishers_url"], headers=headers)
    assert ended.status_code == 401
    assert ended.get_json()["error"]["code"] == "guest_session_ended"
