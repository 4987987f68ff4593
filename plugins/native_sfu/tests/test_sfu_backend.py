"""The native_sfu backend as the core sees it: registration, demo default, status, health."""

from __future__ import annotations

import asyncio

from sfu_helpers import Publisher, wait_for

from portal.core.models import BackendConfig
from portal.core.registry import plugins
from portal.extensions import db


def test_the_backend_needs_no_settings_so_the_demo_enables_it_by_default(app):
    from portal.core import demo

    backend = plugins().backends["native_sfu"]
    assert backend.label == "Built-in video (SFU)"
    assert not backend.settings_schema.get("required")
    caps = backend.capabilities.as_dict()
    assert caps["recording"] and caps["embed"] and caps["end"]
    assert not caps["slides"] and not caps["breakout"]
    assert demo.seed_if_empty()
    config = db.session.execute(
        db.select(BackendConfig).filter_by(backend="native_sfu")
    ).scalar_one()
    assert config.enabled and config.is_default
    assert config.settings == {}


def test_admin_ice_servers_reach_the_join_target_and_bad_ones_are_refused(sfu, login):
    admin = login(sfu.admin)
    bad = admin.patch(
        f"/api/admin/backends/{sfu.sfu_config.id}",
        json={"settings": {"stun_urls": ["http://nope"]}},
    )
    assert bad.status_code == 400, bad.get_json()
    assert bad.get_json()["error"]["code"] == "invalid_settings"
    good = admin.patch(
        f"/api/admin/backends/{sfu.sfu_config.id}",
        json={
            "settings": {
                "stun_urls": ["stun:stun.school.example"],
                "turn_urls": ["turn:turn.school.example"],
                "turn_username": "portal",
                "turn_credential": "s3cret-turn",
            }
        },
    )
    assert good.status_code == 200, good.get_json()
    assert "s3cret-turn" not in good.get_data(as_text=True)  # stored encrypted, shown masked
    started = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start")
    embed = started.get_json()["join"]["embed"]
    assert embed["ice_servers"] == [
        {"urls": "stun:stun.school.example"},
        {"urls": "turn:turn.school.example", "username": "portal", "credential": "s3cret-turn"},
    ]
    assert embed["can_publish"] is True
    joined = login(sfu.student).post(f"/api/schedules/{sfu.schedule.id}/join").get_json()
    assert joined["embed"]["can_publish"] is False
    assert joined["url"].endswith(f"/sfu/rooms/{embed['room']}")


def test_status_lists_who_is_connected_and_health_reports_the_worker(sfu, login, client):
    from portal.core import meetings
    from portal.core.models import Meeting

    backend = plugins().backends["native_sfu"]
    assert backend.check_health({}).ok
    embed = (
        login(sfu.teacher)
        .post(f"/api/schedules/{sfu.schedule.id}/start")
        .get_json()["join"]["embed"]
    )
    meeting = db.session.execute(db.select(Meeting)).scalar_one()

    async def scenario():
        publisher = Publisher(160, 120)
        assert (await publisher.start(client, embed["whip_url"], embed["token"])).status_code == 201
        status = backend.status({}, meetings.handle_of(meeting))
        listed = login(sfu.student).get(f"/sfu/rooms/{embed['room']}/publishers")
        await publisher.close()
        left = await wait_for(
            lambda: not backend.status({}, meetings.handle_of(meeting)).attendees, timeout=20
        )
        return status, listed, left

    status, listed, left = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert status.running and status.participant_count == 1
    assert status.attendees[0].user_id == sfu.teacher.id
    assert status.attendees[0].name == sfu.teacher.name
    assert listed.status_code == 200
    rows = listed.get_json()["publishers"]
    assert [(r["user_id"], r["label"], r["kinds"]) for r in rows] == [
        (sfu.teacher.id, "camera", ["video"])
    ]
    assert left
