"""A class's waiting room on BigBlueButton: held by the portal's lobby (the default) or, where
the admin chose BBB's own guest lobby for the server, by BBB (guestPolicy=ASK_MODERATOR,
non-moderators join with guest=true) without the portal holding anyone a second time."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from portal_testing import enter_as_guest

from portal.extensions import db


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _waiting_room(school, *, held_by: str, class_waits: bool = True, **extra) -> None:
    school.config.settings = {**school.config.settings, "waiting_room": held_by, **extra}
    school.klass.waiting_room = class_waits
    db.session.commit()


def _guest(app, school, *, viewer_only: bool = False):
    return enter_as_guest(app, school.teacher, school.klass.id, viewer_only=viewer_only)


def _bbb_status(sim, school):
    from portal.core.backends import backend_plugin
    from portal.core.meetings import handle_of, settings_for_meeting
    from portal.core.models import Meeting

    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    return backend_plugin("bbb").status(settings_for_meeting(meeting), handle_of(meeting))


def test_bbb_lobby_holds_students_until_the_teacher_admits_them_in_bbb(school, login, sim):
    _waiting_room(school, held_by="bbb")
    teacher = login(school.teacher)
    started = teacher.post(f"/api/schedules/{school.schedule.id}/start")
    assert started.status_code == 200, started.get_json()
    assert sim.calls("create")[0].params["guestPolicy"] == "ASK_MODERATOR"
    assert "guest" not in _query(started.get_json()["join"]["url"])  # the teacher never waits
    sim.join_browser(started.get_json()["join"]["url"])

    # The portal does not hold the student a second time: the join answers BBB's link at once.
    joined = login(school.student).post(f"/api/schedules/{school.schedule.id}/join")
    assert joined.status_code == 200, joined.get_json()
    params = _query(joined.get_json()["url"])
    assert params["guest"] == "true" and params["role"] == "VIEWER"
    followed = sim.join_browser(joined.get_json()["url"])
    assert "/html5client/guestWait?sessionToken=" in followed.headers["Location"]
    token = _query(followed.headers["Location"])["sessionToken"]
    assert sim.guest_status(token) == "WAIT"
    # Held by BBB: not in the meeting until the teacher admits them there.
    assert [a.user_id for a in _bbb_status(sim, school).attendees] == [school.teacher.id]

    meeting_id = sim.calls("create")[0].params["meetingID"]
    sim.approve_guest(meeting_id, str(school.student.id))
    assert sim.guest_status(token) == "ALLOW"
    assert sorted(a.user_id for a in _bbb_status(sim, school).attendees) == sorted(
        [school.teacher.id, school.student.id]
    )


def test_bbb_lobby_holds_a_guest_who_knocked_without_the_portal_admitting(school, login, app, sim):
    _waiting_room(school, held_by="bbb")
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    guest, guest_id = _guest(app, school)
    knocked = guest.post(f"/api/guest/schedules/{school.schedule.id}/knock")
    assert knocked.get_json()["status"] == "waiting"
    assert knocked.get_json()["waits_in"] == "meeting"  # the guest page goes on to BBB
    joined = guest.post(f"/api/guest/schedules/{school.schedule.id}/join")
    assert joined.status_code == 200, joined.get_json()
    params = _query(joined.get_json()["url"])
    assert params["guest"] == "true" and params["userID"] == str(-guest_id)
    followed = sim.join_browser(joined.get_json()["url"])
    assert "/html5client/guestWait" in followed.headers["Location"]
    assert _bbb_status(sim, school).attendees == []


def test_the_portal_lobby_holds_when_the_admin_left_waiting_to_the_portal(school, login, app, sim):
    _waiting_room(school, held_by="portal", guestPolicy="ALWAYS_ACCEPT")
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert sim.calls("create")[0].params["guestPolicy"] == "ALWAYS_ACCEPT"  # the admin's own
    waiting = login(school.student).post(f"/api/schedules/{school.schedule.id}/join")
    assert waiting.status_code == 409
    assert waiting.get_json()["error"]["code"] == "waiting_room"
    guest, _guest_id = _guest(app, school)
    knocked = guest.post(f"/api/guest/schedules/{school.schedule.id}/knock")
    assert knocked.get_json()["waits_in"] == "portal"
    held = guest.post(f"/api/guest/schedules/{school.schedule.id}/join")
    assert held.status_code == 409
    assert held.get_json()["error"]["code"] == "waiting_room"


def test_a_class_without_waiting_room_lets_students_straight_into_bbb(school, login, sim):
    _waiting_room(school, held_by="bbb", class_waits=False)
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert "guestPolicy" not in sim.calls("create")[0].params
    joined = login(school.student).post(f"/api/schedules/{school.schedule.id}/join")
    assert joined.status_code == 200
    assert "guest" not in _query(joined.get_json()["url"])
    followed = sim.join_browser(joined.get_json()["url"])
    assert "/html5client/join?sessionToken=" in followed.headers["Location"]


def test_a_viewer_only_guest_joins_bbb_listen_only_without_camera(school, login, app, sim):
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    guest, guest_id = _guest(app, school, viewer_only=True)
    guest.post(f"/api/guest/schedules/{school.schedule.id}/knock")
    login(school.teacher).post(
        f"/api/schedules/{school.schedule.id}/lobby/admit", json={"guest_ids": [guest_id]}
    )
    joined = guest.post(f"/api/guest/schedules/{school.schedule.id}/join")
    assert joined.status_code == 200, joined.get_json()
    params = _query(joined.get_json()["url"])
    assert params["role"] == "VIEWER"
    assert params["userdata-bbb_force_listen_only"] == "true"
    assert params["userdata-bbb_auto_share_webcam"] == "false"
    assert sim.join_browser(joined.get_json()["url"]).status_code == 302
