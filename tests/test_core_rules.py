"""Rules that live once in the core: the join window join_class enforces (and the pages show),
and events that leave the process only after the change is committed."""

from __future__ import annotations

from datetime import timedelta

import fake_backend
import pytest

from portal.core import live_state, meetings
from portal.core.models import Meeting, MeetingState, Schedule
from portal.core.registry import plugin_manager
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import DeliveryResult, hookimpl


def _move_start(schedule_id: int, minutes_from_now: int) -> Schedule:
    schedule = db.session.get(Schedule, schedule_id)
    starts_at = (utcnow() + timedelta(minutes=minutes_from_now)).replace(second=0, microsecond=0)
    schedule.starts_at, schedule.ends_at = starts_at, starts_at + timedelta(hours=1)
    db.session.commit()
    return schedule


def test_a_student_cannot_join_before_the_room_opens_even_through_the_api(school, login):
    schedule = _move_start(school.schedule.id, 11)
    teacher, student = login(school.teacher), login(school.student)
    assert (
        teacher.post(f"/api/schedules/{schedule.id}/start").status_code == 200
    )  # teachers may start early

    early = student.post(f"/api/schedules/{schedule.id}/join")
    assert early.status_code == 409
    error = early.get_json()["error"]
    assert error["code"] == "not_open_yet"
    opens_at = schedule.starts_at - timedelta(minutes=10)
    assert opens_at.isoformat(timespec="minutes") in error["message"]

    _move_start(schedule.id, 9)
    joined = student.post(f"/api/schedules/{schedule.id}/join")
    assert joined.status_code == 200, joined.get_json()


def test_the_join_window_is_a_setting_the_pages_and_join_share(app, school, login, client):
    app.config["JOIN_OPENS_MINUTES"] = 20
    schedule = _move_start(school.schedule.id, 15)
    assert login(school.teacher).post(f"/api/schedules/{schedule.id}/start").status_code == 200
    assert login(school.student).post(f"/api/schedules/{schedule.id}/join").status_code == 200

    opens_at = (schedule.starts_at - timedelta(minutes=20)).isoformat()
    client.post("/login", data={"email": school.student.email, "password": "correct-horse-battery"})
    room = client.get(f"/schedules/{schedule.id}").get_data(as_text=True)
    dashboard = client.get("/").get_data(as_text=True)
    detail = client.get(f"/classes/{school.klass.id}").get_data(as_text=True)
    for page in (room, dashboard, detail):
        assert f'data-opens-at="{opens_at}"' in page


@pytest.fixture
def pushed():
    seen: list[str] = []

    def record(_sender, *, event, **_):
        seen.append(event)

    live_state.live_event.connect(record)
    yield seen
    live_state.live_event.disconnect(record)


class HookRecorder:
    def __init__(self, fail: bool = False):
        self.calls: list[str] = []
        self.fail = fail

    @hookimpl
    def class_ended(self, meeting, klass, schedule):
        self.calls.append(f"ended:{schedule.id}")
        if self.fail:
            raise RuntimeError("a plugin bug")


@pytest.fixture
def hooks():
    recorder = HookRecorder()
    plugin_manager().register(recorder)
    yield recorder
    plugin_manager().unregister(recorder)


def _running(school, login) -> Meeting:
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    return db.session.execute(
        db.select(Meeting).filter_by(schedule_id=school.schedule.id)
    ).scalar_one()


def test_a_rolled_back_end_sends_no_event_and_a_committed_one_does(school, login, pushed, hooks):
    meeting = _running(school, login)
    pushed.clear()

    meetings.end_class(school.teacher, school.schedule.id)
    assert pushed == [] and hooks.calls == []  # nothing leaves before the commit
    db.session.rollback()
    assert pushed == [] and hooks.calls == []
    db.session.expire_all()
    assert db.session.get(Meeting, meeting.id).status == MeetingState.RUNNING.value

    meetings.end_class(school.teacher, school.schedule.id)
    db.session.commit()
    assert pushed == ["class:ended"] and hooks.calls == [f"ended:{school.schedule.id}"]


def test_a_failing_event_hook_does_not_undo_the_committed_change(school, login, pushed, hooks):
    _running(school, login)
    hooks.fail = True
    ended = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/end")
    assert ended.status_code == 200 and ended.get_json()["state"] == "ended"
    assert hooks.calls == [f"ended:{school.schedule.id}"]
    db.session.expire_all()
    meeting = db.session.execute(
        db.select(Meeting).filter_by(schedule_id=school.schedule.id)
    ).scalar_one()
    assert meeting.status == MeetingState.ENDED.value
    assert "class:ended" in pushed


def test_a_failed_request_sends_none_of_its_events(school, login, pushed, hooks, monkeypatch):
    _running(school, login)
    pushed.clear()
    original = meetings.mark_meeting_ended

    def end_then_fail(meeting):
        original(meeting)
        raise RuntimeError("something after the end failed")

    monkeypatch.setattr(meetings, "mark_meeting_ended", end_then_fail)
    failed = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/end")
    assert failed.status_code == 500
    assert pushed == [] and hooks.calls == []
    db.session.expire_all()
    meeting = db.session.execute(
        db.select(Meeting).filter_by(schedule_id=school.schedule.id)
    ).scalar_one()
    assert meeting.status == MeetingState.RUNNING.value


class PigeonPost:
    """A third-party notifier with its own channel, registered the way a plugin would."""

    __name__ = "pigeon_notifier"
    channel = "pigeon"
    name = "pigeon"
    label = "Carrier pigeon"

    def __init__(self):
        self.messages: list = []

    def send(self, message):
        self.messages.append(message)
        return DeliveryResult("sent", provider_id=f"coo-{len(self.messages)}")

    @hookimpl
    def register_notifiers(self, register):
        register(self)


def test_a_third_party_channel_can_be_chosen_and_receives_the_reminder(database_url, tmp_path):
    from portal_testing import PASSWORD, make_app

    from portal.core import classes, notifications, users

    pigeon = PigeonPost()
    app = make_app(database_url, tmp_path, EXTRA_PLUGINS=[fake_backend, pigeon])
    with app.app_context():
        teacher = users.create_user(
            None, email="t@tests.school", name="T", role="teacher", password=PASSWORD
        )
        student = users.create_user(
            None, email="s@tests.school", name="S", role="student", password=PASSWORD
        )
        db.session.commit()
        client = app.test_client()
        client.post("/login", data={"email": teacher.email, "password": PASSWORD})
        form = client.get("/classes/new").get_data(as_text=True)
        assert 'value="pigeon"' in form and "Carrier pigeon" in form

        token = client.post(
            "/api/auth/login", json={"email": teacher.email, "password": PASSWORD}
        ).get_json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        refused = client.post(
            "/api/classes",
            headers=headers,
            json={
                "title": "Owls",
                "starts_at": (utcnow() + timedelta(minutes=20)).isoformat(),
                "duration_minutes": 30,
                "reminder_offsets": [15],
                "reminder_channels": ["owl"],
            },
        )
        assert refused.status_code == 400
        assert (
            "unknown reminder channel: owl; this portal sends by"
            in refused.get_json()["error"]["message"]
        )

        created = client.post(
            "/api/classes",
            headers=headers,
            json={
                "title": "Pigeons",
                "starts_at": (utcnow() + timedelta(minutes=14)).isoformat(),
                "duration_minutes": 30,
                "reminder_offsets": [15],
                "reminder_channels": ["pigeon"],
            },
        )
        assert created.status_code == 201, created.get_json()
        classes.enrol(teacher, created.get_json()["id"], [student.id])
        db.session.commit()
        notifications.dispatch_due()  # the 15-minute reminder is due a minute ago
        assert [m.recipient for m in pigeon.messages if m.channel == "pigeon"] == [student.email]
        assert "Pigeons" in pigeon.messages[-1].subject
        db.session.remove()


def test_every_backend_call_maps_its_failures_the_same_way(school, login):
    """start and end go through one wrapper: unreachable and garbled answers are 503s naming the
    server; a server that refuses to end a meeting it no longer knows still ends the class here."""
    from fake_backend import FAKE

    from portal.plugins import BackendError, BackendUnavailable

    teacher = login(school.teacher)
    sid = school.schedule.id
    FAKE.fail_with = ValueError("<html>not xml</html>")
    garbled = teacher.post(f"/api/schedules/{sid}/start")
    assert garbled.status_code == 503
    assert garbled.get_json()["error"]["code"] == "backend_error"
    assert garbled.get_json()["error"]["message"].startswith(
        "the meeting server (Fake) gave an answer the portal could not"
    )

    FAKE.fail_with = None
    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    FAKE.fail_with = BackendUnavailable("connection refused")
    unreachable = teacher.post(f"/api/schedules/{sid}/end")
    assert unreachable.status_code == 503
    assert (
        "not reachable right now: connection refused; the class is still running"
        in unreachable.get_json()["error"]["message"]
    )
    FAKE.fail_with = BackendError("no such meeting")
    ended = teacher.post(f"/api/schedules/{sid}/end")
    FAKE.fail_with = None
    assert ended.status_code == 200 and ended.get_json()["state"] == "ended"
