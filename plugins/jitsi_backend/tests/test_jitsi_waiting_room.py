"""A class's waiting room on Jitsi: with the admin's `lobby` setting it is Jitsi's own lobby
for classes that have a waiting room (the teacher's room turns it on, the teacher's token
bypasses it, students knock in Jitsi and the portal lets them through); without it, the
portal's lobby. And a "viewer only" guest's token and room config on Jitsi."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from jitsi_prosody_verifier import ProsodyConfig, enter
from jitsi_testkit import APP_SECRET, self_hosted_settings, use_jitsi
from portal_testing import enter_as_guest

from portal.extensions import db

PROSODY = ProsodyConfig(
    algorithm="HS256", key=APP_SECRET, accepted_issuers=["portal"], accepted_audiences=["jitsi"]
)


def _class_waits(school, waits: bool = True) -> None:
    school.klass.waiting_room = waits
    db.session.commit()


def _admitted_guest(app, school, login, *, viewer_only: bool = False):
    guest, guest_id = enter_as_guest(
        app, school.teacher, school.klass.id, viewer_only=viewer_only, name="Pat Parent"
    )
    guest.post(f"/api/guest/schedules/{school.schedule.id}/knock")
    login(school.teacher).post(
        f"/api/schedules/{school.schedule.id}/lobby/admit", json={"guest_ids": [guest_id]}
    )
    return guest


def test_jitsi_lobby_is_the_class_waiting_room_where_the_admin_set_it_up(school, login):
    use_jitsi(school, self_hosted_settings(lobby=True))
    _class_waits(school)
    sid = school.schedule.id
    started = login(school.teacher).post(f"/api/schedules/{sid}/start")
    assert started.status_code == 200, started.get_json()
    teacher_embed = started.get_json()["join"]["embed"]
    # The teacher's room script turns the lobby on; the teacher's token passes it.
    assert teacher_embed["lobby"] is True
    room = teacher_embed["roomName"]
    address = f"{room}@conference.meet.school.test"
    assert enter(teacher_embed["jwt"], PROSODY, address, may_moderate=True, lobby_on=True) == "room"

    # The portal lets the student through at once: Jitsi's lobby holds them.
    joined = login(school.student).post(f"/api/schedules/{sid}/join")
    assert joined.status_code == 200, joined.get_json()
    embed = joined.get_json()["embed"]
    assert embed["lobby"] is False  # only a moderator may turn the lobby on
    assert embed["configOverwrite"]["lobby"] == {"autoKnock": True, "enableChat": True}
    assert enter(embed["jwt"], PROSODY, address, may_moderate=False, lobby_on=True) == "lobby"


def test_without_the_admins_lobby_setting_the_portal_lobby_holds_students(school, login):
    use_jitsi(school, self_hosted_settings())
    _class_waits(school)
    sid = school.schedule.id
    started = login(school.teacher).post(f"/api/schedules/{sid}/start").get_json()
    assert started["join"]["embed"]["lobby"] is False
    assert "lobby" not in started["join"]["embed"]["configOverwrite"]
    waiting = login(school.student).post(f"/api/schedules/{sid}/join")
    assert waiting.status_code == 409
    assert waiting.get_json()["error"]["code"] == "waiting_room"


def test_a_class_without_waiting_room_has_no_jitsi_lobby(school, login):
    use_jitsi(school, self_hosted_settings(lobby=True))
    _class_waits(school, False)
    sid = school.schedule.id
    started = login(school.teacher).post(f"/api/schedules/{sid}/start").get_json()
    assert started["join"]["embed"]["lobby"] is False
    joined = login(school.student).post(f"/api/schedules/{sid}/join").get_json()
    assert "lobby" not in joined["embed"]["configOverwrite"]
    room = joined["embed"]["roomName"]
    address = f"{room}@conference.meet.school.test"
    assert enter(joined["embed"]["jwt"], PROSODY, address, may_moderate=False, lobby_on=False) == (
        "room"
    )


def test_a_viewer_only_guest_gets_a_token_without_moderator_and_starts_muted(school, login, app):
    use_jitsi(school, self_hosted_settings(start_audio_muted=False))
    sid = school.schedule.id
    login(school.teacher).post(f"/api/schedules/{sid}/start")
    guest = _admitted_guest(app, school, login, viewer_only=True)
    joined = guest.post(f"/api/guest/schedules/{sid}/join")
    assert joined.status_code == 200, joined.get_json()
    target = joined.get_json()
    embed = target["embed"]
    room = embed["roomName"]
    claims_room = enter(
        embed["jwt"],
        PROSODY,
        f"{room}@conference.meet.school.test",
        may_moderate=False,
        lobby_on=False,
    )
    assert claims_room == "room"
    config = embed["configOverwrite"]
    assert config["startWithAudioMuted"] is True and config["startWithVideoMuted"] is True
    assert not {"microphone", "camera", "desktop"} & set(config["toolbarButtons"])
    assert embed["viewer_only"] is True
    fragment = unquote(urlparse(target["url"]).fragment)
    assert "config.startWithVideoMuted=true" in fragment
    assert "microphone" not in fragment and "config.toolbarButtons=" in fragment


def test_an_ordinary_guest_keeps_microphone_and_camera(school, login, app):
    use_jitsi(school, self_hosted_settings(start_audio_muted=False))
    sid = school.schedule.id
    login(school.teacher).post(f"/api/schedules/{sid}/start")
    guest = _admitted_guest(app, school, login)
    embed = guest.post(f"/api/guest/schedules/{sid}/join").get_json()["embed"]
    assert embed["viewer_only"] is False
    assert "toolbarButtons" not in embed["configOverwrite"]
    assert embed["configOverwrite"]["startWithAudioMuted"] is False
