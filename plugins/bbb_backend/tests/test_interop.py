"""What the portal does with BBB-API servers that are not a default BBB (bbblb, servers refusing
sha384, stalled servers), with badly signed callbacks, and with what BBB sends at meeting end
(learning analytics) and expects on create (Greenlight / Moodle metadata)."""

from __future__ import annotations

import re
import time

import pytest

from portal.core.models import Attendance, Meeting
from portal.extensions import db

GUESS = "an-attacker-guess-0000000000000000000"


@pytest.fixture
def admin(make_user, login):
    return login(make_user("admin"))


def _configure(admin, sim, **settings) -> dict:
    name = settings.pop("name", "BBB pool")
    response = admin.post(
        "/api/admin/backends",
        json={
            "name": name,
            "backend": "bbb",
            "settings": {"url": sim.api_url, "secret": sim.secret, **settings},
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _test_connection(admin, config: dict) -> dict:
    return admin.post(f"/api/admin/backends/{config['id']}/test").get_json()


def _ended_meeting(school, login) -> Meeting:
    teacher = login(school.teacher)
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    assert teacher.post(f"/api/schedules/{school.schedule.id}/end").status_code == 200
    return db.session.execute(db.select(Meeting)).scalar_one()


# Item 5: the signature is checked before the meeting is looked up.


def test_a_badly_signed_recording_callback_is_401_whatever_the_meeting(school, login, sim, client):
    meeting = _ended_meeting(school, login)
    for meeting_id in ("no-such-meeting", meeting.backend_meeting_id):
        forged = sim.signed_parameters(meeting_id, "rec-1", secret=GUESS)
        response = client.post("/plugins/bbb/recording-ready", data={"signed_parameters": forged})
        assert response.status_code == 401, meeting_id
        assert response.get_json()["error"]["code"] == "bad_signature"
    # Correctly signed, the unknown meeting is still 410 (BBB stops retrying).
    signed = sim.signed_parameters("no-such-meeting", "rec-1")
    assert (
        client.post("/plugins/bbb/recording-ready", data={"signed_parameters": signed}).status_code
        == 410
    )
    assert sim.calls("getRecordings") == []


def test_a_forged_end_callback_is_401_whatever_the_meeting(school, login, sim, client):
    from portal_bbb_backend.backend import end_callback_token

    meeting = _ended_meeting(school, login)
    for meeting_id in ("no-such-meeting", meeting.backend_meeting_id):
        forged = client.get(
            "/plugins/bbb/end", query_string={"meetingID": meeting_id, "token": "0" * 32}
        )
        assert forged.status_code == 401, meeting_id
    real = client.get(
        "/plugins/bbb/end",
        query_string={
            "meetingID": "no-such-meeting",
            "token": end_callback_token(sim.secret, "no-such-meeting"),
        },
    )
    assert real.status_code == 404


# Item 8: test connection proves the secret with a call every BBB-API server answers.


def test_test_connection_is_green_through_bbblb_which_fails_get_meetings(admin, sim):
    sim.behave_like_bbblb()
    result = _test_connection(admin, _configure(admin, sim))
    assert result["ok"] is True, result["message"]
    assert "secret" in result["message"] and "sha256" in result["message"]
    # A wrong secret is still told apart through the same call.
    wrong = _test_connection(
        admin, _configure(admin, sim, secret="definitely-not-the-secret", name="wrong")
    )
    assert (
        wrong["ok"] is False
        and "wrong shared secret" in wrong["message"]
        and "checksumError" in wrong["message"]
    )


def test_a_5xx_answer_is_an_error_of_the_server_not_unreachable(admin, sim):
    config = _configure(admin, sim)
    sim.http_status = 503
    result = _test_connection(admin, config)
    assert result["ok"] is False
    assert "the server answered with an error (HTTP 503)" in result["message"]
    assert "unreachable" not in result["message"]


# Item 9: one deadline per user action.


def test_a_stalled_server_gets_one_create_and_the_teacher_is_told_the_real_wait(school, login, sim):
    school.config.settings = {**school.config.settings, "timeout_seconds": 0.5}
    db.session.commit()
    sim.stall_seconds = 3
    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "bbb_timeout"
    assert (
        len(sim.calls("create")) == 1
    )  # a create that may be running on the server is not sent again
    waited = re.search(
        r"no answer after (\d+\.\d) s \(the limit for one action is 0\.5 s\)", error["message"]
    )
    assert waited is not None, error["message"]


def test_calls_of_one_action_share_its_budget(sim):
    from portal_bbb_backend.client import BBBClient, BBBUnavailable

    sim.stall_seconds = 3
    client = BBBClient(sim.api_url, sim.secret, timeout=0.5, retries=3)
    with pytest.raises(BBBUnavailable):
        client.version()
    with pytest.raises(BBBUnavailable) as info:
        client.get_meeting_info("m-1")
    assert info.value.code == "bbb_timeout"
    assert len(sim.requests) == 1  # no retry after the budget was spent, no second call either


# Item 10: sha384 is offered, but some BBB-API servers refuse it.


def test_the_settings_help_warns_that_sha384_may_be_refused(admin):
    types = {t["name"]: t for t in admin.get("/api/admin/backend-types").get_json()}
    help_text = types["bbb"]["settings_schema"]["properties"]["checksum_algorithm"]["description"]
    assert "sha384" in help_text and "refuse" in help_text


def test_a_server_refusing_sha384_is_named_by_test_connection(admin, sim):
    sim.supported = ("sha1", "sha256", "sha512")  # like Scalelite
    result = _test_connection(admin, _configure(admin, sim, checksum_algorithm="sha384"))
    assert result["ok"] is False
    assert "does not accept sha384" in result["message"]
    assert "wrong shared secret" not in result["message"]
    assert (
        len(sim.calls("getMeetingInfo")[0].params["checksum"]) == 96
    )  # the chosen algorithm was tried


# Item 11: metadata on create, exact attendance from the learning-analytics callback.


def test_create_sends_the_metadata_greenlight_and_moodle_send(school, login, sim):
    from portal.core import classes

    classes.update_class(
        school.teacher, school.klass.id, classes.ClassChanges(description="Waves and optics")
    )
    db.session.commit()
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    params = sim.calls("create")[0].params
    assert params["meta_bbb-origin"] == "classroom-portal"
    assert params["meta_bbb-origin-version"]
    assert params["meta_bbb-origin-server-name"] == "127.0.0.1"
    assert params["meta_bbb-origin-server-common-name"]
    assert params["meta_bbb-context-id"] == str(school.klass.id)
    assert params["meta_bbb-context-name"] == "Physics"
    assert params["meta_bbb-recording-name"] == "Physics"
    assert params["meta_bbb-recording-description"] == "Waves and optics"
    assert "meta_bbb-recording-tags" in params
    assert params["meta_bbb-meeting-size-hint"] == "3"  # the teacher and two students
    assert params["meta_analytics-callback-url"] == "http://127.0.0.1:5000/plugins/bbb/analytics"
    # The simulator checked the checksum over all of it and created the meeting with it.
    assert sim.create_count == 1
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    assert sim.meetings[meeting.backend_meeting_id].metadata["bbb-context-name"] == "Physics"


def _report(login, school) -> dict:
    response = login(school.teacher).get(f"/api/schedules/{school.schedule.id}/attendance")
    assert response.status_code == 200, response.get_json()
    return {row["name"]: row for row in response.get_json()["rows"]}


def test_learning_analytics_records_a_short_visit_that_sampling_misses(
    school, login, sim, callbacks_to_portal, client
):
    from portal_bbb_backend.sync import sync_all

    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    sim.join_browser(teacher.post(f"/api/schedules/{sid}/join").get_json()["url"])
    assert sync_all()["running"] == 1
    # Between two samples the student is in for exactly two minutes (e.g. through a shared link).
    joined_ms = (int(time.time()) - 600) * 1000
    sim.add_visit(
        meeting.backend_meeting_id,
        str(school.student.id),
        "Sam Student",
        joined_ms,
        joined_ms + 120_000,
    )
    assert sync_all()["running"] == 1
    assert _report(login, school)["Sam Student"]["present"] is False  # sampling missed the visit

    teacher.post(f"/api/schedules/{sid}/end")
    [analytics] = [c for c in sim.pending_callbacks if c.url.endswith("/plugins/bbb/analytics")]
    delivered = sim.deliver_callbacks()
    assert ("POST", "http://127.0.0.1:5000/plugins/bbb/analytics", 200) in delivered
    student = _report(login, school)["Sam Student"]
    assert student["present"] is True and student["minutes"] == 2 and student["source"] == "bbb"
    rows_before = {
        (a.user_id, a.first_joined_at, a.left_at)
        for a in db.session.execute(db.select(Attendance)).scalars()
    }

    # BBB (or Scalelite) may send it again: nothing changes.
    again = client.post("/plugins/bbb/analytics", json=analytics.json, headers=analytics.headers)
    assert again.status_code == 200
    db.session.expire_all()
    rows_after = {
        (a.user_id, a.first_joined_at, a.left_at)
        for a in db.session.execute(db.select(Attendance)).scalars()
    }
    assert rows_after == rows_before


def test_learning_analytics_with_a_bad_token_is_refused(school, login, sim, client):
    meeting = _ended_meeting(school, login)
    body = {
        "version": "1.0",
        "meeting_id": meeting.backend_meeting_id,
        "internal_meeting_id": "x",
        "data": {
            "attendees": [
                {
                    "ext_user_id": str(school.student.id),
                    "name": "Sam Student",
                    "moderator": False,
                    "joins": ["2026-12-01T10:00:00.000+00:00"],
                    "leaves": ["2026-12-01T10:02:00.000+00:00"],
                }
            ]
        },
    }
    for headers in (
        {},
        {"Authorization": f"Bearer {sim.analytics_token(GUESS)}"},
        {"Authorization": f"Bearer {sim.analytics_token(expires_in=-60)}"},
        {"Authorization": "Bearer not.a.jwt"},
    ):
        response = client.post("/plugins/bbb/analytics", json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.get_json()["error"]["code"] == "bad_signature"
    # Bad signature for an unknown meeting is 401 too; correctly signed it is 410.
    unknown = {**body, "meeting_id": "no-such-meeting"}
    forged = {"Authorization": f"Bearer {sim.analytics_token(GUESS)}"}
    assert client.post("/plugins/bbb/analytics", json=unknown, headers=forged).status_code == 401
    signed = {"Authorization": f"Bearer {sim.analytics_token()}"}
    assert client.post("/plugins/bbb/analytics", json=unknown, headers=signed).status_code == 410
    assert client.post("/plugins/bbb/analytics", data="garbage", headers=signed).status_code == 400
    assert (
        db.session.execute(db.select(Attendance).filter_by(user_id=school.student.id)).first()
        is None
    )
