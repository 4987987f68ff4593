"""The floor of a class occurrence over REST: raised hands in order, grants, withdrawals,
mutes and the refusals around them (any backend: the school's fake one here)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core import classes, live_state
from portal.core.models import FloorSeat
from portal.core.types import utcnow
from portal.extensions import db


@pytest.fixture
def events():
    """Every live event the core announces during the test: (event, audience, payload)."""
    seen: list[tuple[str, str, dict]] = []

    def record(_sender, *, event, payload, audience, **_):
        seen.append((event, audience, payload))

    live_state.live_event.connect(record)
    yield seen
    live_state.live_event.disconnect(record)


def seats() -> list[tuple[int, bool, bool, bool, bool, bool]]:
    db.session.expire_all()
    rows = db.session.execute(db.select(FloorSeat).order_by(FloorSeat.user_id)).scalars()
    return [
        (s.user_id, s.hand_raised_at is not None, s.mic, s.camera, s.screen, s.mic_muted)
        for s in rows
    ]


def test_hands_queue_in_the_order_they_went_up_and_a_reload_sees_the_same(school, login, events):
    sid = school.schedule.id
    classmate, student, teacher = (
        login(school.classmate),
        login(school.student),
        login(school.teacher),
    )
    assert classmate.post(f"/api/schedules/{sid}/hands").status_code == 200
    raised = student.post(f"/api/schedules/{sid}/hands")
    assert raised.status_code == 200 and raised.get_json()["hand_raised"] is True
    # Raising twice keeps the place in the queue.
    assert classmate.post(f"/api/schedules/{sid}/hands").status_code == 200

    floor = teacher.get(f"/api/schedules/{sid}/floor").get_json()
    assert [h["user"]["name"] for h in floor["hands"]] == [
        school.classmate.name,
        school.student.name,
    ]
    mine = student.get(f"/api/schedules/{sid}/floor").get_json()
    assert mine["me"]["hand_raised"] is True and mine["me"]["position"] == 2
    assert mine["hands"] == [] and mine["granted"] == []  # the queue is the teacher's to see
    raised_events = [(e, a) for e, a, _p in events if e == "hand:raised"]
    assert raised_events == [("hand:raised", "managers"), ("hand:raised", "user")] * 2

    lowered = student.delete(f"/api/schedules/{sid}/hands/me")
    assert lowered.status_code == 200 and lowered.get_json()["hand_raised"] is False
    floor = teacher.get(f"/api/schedules/{sid}/floor").get_json()
    assert [h["user"]["id"] for h in floor["hands"]] == [school.classmate.id]
    assert any(e == "hand:lowered" for e, _a, _p in events)


def test_teacher_grants_withdraws_and_mutes_and_everyone_is_told(school, login, events):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    student.post(f"/api/schedules/{sid}/hands")

    granted = teacher.post(
        f"/api/schedules/{sid}/floor/grant",
        json={"user_id": school.student.id, "mic": True, "camera": True},
    )
    assert granted.status_code == 200, granted.get_json()
    assert granted.get_json() | {"raised_at": None} == {
        "user": {"id": school.student.id, "name": school.student.name},
        "hand_raised": False,
        "raised_at": None,
        "mic": True,
        "camera": True,
        "screen": False,
        "mic_muted": False,
    }
    me = student.get(f"/api/schedules/{sid}/floor").get_json()["me"]
    assert (me["mic"], me["camera"], me["screen"], me["hand_raised"]) == (True, True, False, False)
    floor = teacher.get(f"/api/schedules/{sid}/floor").get_json()
    assert [g["user"]["id"] for g in floor["granted"]] == [school.student.id] and floor[
        "hands"
    ] == []

    muted = teacher.post(f"/api/schedules/{sid}/floor/mute", json={"user_id": school.student.id})
    assert muted.status_code == 200 and muted.get_json()["mic_muted"] is True
    # Granting the microphone again is how the teacher unmutes it.
    again = teacher.post(
        f"/api/schedules/{sid}/floor/grant", json={"user_id": school.student.id, "mic": True}
    )
    assert again.get_json()["mic_muted"] is False

    camera_only = teacher.post(
        f"/api/schedules/{sid}/floor/withdraw", json={"user_id": school.student.id, "mic": True}
    )
    assert (camera_only.get_json()["mic"], camera_only.get_json()["camera"]) == (False, True)
    everything = teacher.post(
        f"/api/schedules/{sid}/floor/withdraw", json={"user_id": school.student.id}
    )
    assert everything.status_code == 200
    assert seats() == [(school.student.id, False, False, False, False, False)]

    floor_events = [(e, a, p["user"]["id"]) for e, a, p in events if e.startswith("floor:")]
    assert floor_events == [
        ("floor:granted", "room", school.student.id),
        ("floor:muted", "room", school.student.id),
        ("floor:granted", "room", school.student.id),
        ("floor:withdrawn", "room", school.student.id),
        ("floor:withdrawn", "room", school.student.id),
    ]


def test_lower_all_hands_is_the_teachers(school, login, events):
    sid = school.schedule.id
    login(school.student).post(f"/api/schedules/{sid}/hands")
    login(school.classmate).post(f"/api/schedules/{sid}/hands")

    refused = login(school.student).delete(f"/api/schedules/{sid}/hands")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    other = login(school.student).delete(f"/api/schedules/{sid}/hands/{school.classmate.id}")
    assert other.status_code == 403
    assert [s[1] for s in seats()] == [True, True]

    done = login(school.teacher).delete(f"/api/schedules/{sid}/hands")
    assert done.status_code == 200
    assert sorted(done.get_json()["user_ids"]) == sorted([school.student.id, school.classmate.id])
    assert [s[1] for s in seats()] == [False, False]
    assert [e for e, _a, _p in events if e == "hands:lowered"] == ["hands:lowered"]


def test_bad_floor_requests_are_refused_and_change_nothing(school, login, make_user, events):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    student.post(f"/api/schedules/{sid}/hands")
    before = seats()
    events.clear()

    # Granting the floor to someone who is not a student of the class.
    for who in (school.outsider.id, school.other_teacher.id, 2**31 - 1):
        response = teacher.post(
            f"/api/schedules/{sid}/floor/grant", json={"user_id": who, "mic": True}
        )
        assert response.status_code == 404, who
        assert response.get_json()["error"]["code"] == "not_a_member"
    # A student calling grant (on themselves or a classmate), withdraw or mute.
    for path, body in (
        ("grant", {"user_id": school.student.id, "mic": True}),
        ("grant", {"user_id": school.classmate.id, "camera": True}),
        ("withdraw", {"user_id": school.classmate.id}),
        ("mute", {"user_id": school.classmate.id}),
    ):
        response = student.post(f"/api/schedules/{sid}/floor/{path}", json=body)
        assert response.status_code == 403, path
        assert response.get_json()["error"]["code"] == "forbidden"
    # Nothing named to grant, and malformed bodies.
    empty = teacher.post(f"/api/schedules/{sid}/floor/grant", json={"user_id": school.student.id})
    assert empty.status_code == 400 and empty.get_json()["error"]["code"] == "nothing_to_grant"
    assert (
        teacher.post(
            f"/api/schedules/{sid}/floor/grant", json={"user_id": "x", "mic": True}
        ).status_code
        == 400
    )
    assert teacher.post(f"/api/schedules/{sid}/floor/grant", json={"mic": True}).status_code == 400
    # The teacher has no hand to raise.
    own = teacher.post(f"/api/schedules/{sid}/hands")
    assert own.status_code == 400 and own.get_json()["error"]["code"] == "teacher_has_floor"

    # A hand raised in another class's occurrence: not even told it exists.
    other_class = classes.create_class(
        school.other_teacher,
        classes.ClassInput(
            title="Biology",
            starts_at=utcnow() + timedelta(minutes=5),
            duration_minutes=60,
            timezone="Europe/Paris",
        ),
    )
    db.session.commit()
    elsewhere = classes.list_schedules(school.other_teacher, other_class.id)[0].id
    foreign = student.post(f"/api/schedules/{elsewhere}/hands")
    assert foreign.status_code == 404 and foreign.get_json()["error"]["code"] == "not_found"
    assert login(school.outsider).post(f"/api/schedules/{sid}/hands").status_code == 404
    # ... nor may its teacher grant the floor in ours.
    assert (
        login(school.other_teacher)
        .post(f"/api/schedules/{sid}/floor/grant", json={"user_id": school.student.id, "mic": True})
        .status_code
        == 404
    )

    assert seats() == before
    assert events == []


def test_a_blocked_student_is_refused_the_floor(school, login):
    from portal.core import blocking

    sid = school.schedule.id
    blocking.block_user(
        school.teacher,
        user_id=school.classmate.id,
        scope="class",
        reason="spamming",
        class_id=school.klass.id,
    )
    db.session.commit()
    refused = login(school.teacher).post(
        f"/api/schedules/{sid}/floor/grant", json={"user_id": school.classmate.id, "camera": True}
    )
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "blocked"
    assert login(school.classmate).post(f"/api/schedules/{sid}/hands").status_code == 403
    assert seats() == []


def test_the_floor_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in (
        "/api/schedules/{schedule_id}/floor",
        "/api/schedules/{schedule_id}/hands",
        "/api/schedules/{schedule_id}/floor/grant",
        "/api/schedules/{schedule_id}/floor/withdraw",
        "/api/schedules/{schedule_id}/floor/mute",
        "/api/schedules/{schedule_id}/hands/{user_id}",
    ):
        assert path in paths, path


def test_every_floor_change_raises_the_revision_that_the_state_and_its_event_carry(
    school, login, events
):
    """The page re-reads the floor after every push and its own actions and keeps the
    newest answer: each change answers with a higher revision than any state read before,
    and a request that changes nothing (raising a raised hand) leaves it where it was."""
    sid = school.schedule.id
    student, classmate, teacher = (
        login(school.student),
        login(school.classmate),
        login(school.teacher),
    )
    floor = f"/api/schedules/{sid}/floor"

    def revision(client=teacher) -> int:
        return client.get(floor).get_json()["revision"]

    assert revision() == 0 and revision(student) == 0
    steps = [
        lambda: student.post(f"/api/schedules/{sid}/hands"),
        lambda: classmate.post(f"/api/schedules/{sid}/hands"),
        lambda: teacher.post(f"{floor}/grant", json={"user_id": school.student.id, "mic": True}),
        lambda: teacher.post(f"{floor}/mute", json={"user_id": school.student.id}),
        lambda: teacher.post(f"{floor}/withdraw", json={"user_id": school.student.id}),
        lambda: classmate.delete(f"/api/schedules/{sid}/hands/me"),
        lambda: student.post(f"/api/schedules/{sid}/hands"),
        lambda: teacher.delete(f"/api/schedules/{sid}/hands"),
    ]
    for n, step in enumerate(steps, start=1):
        assert step().status_code == 200
        assert revision() == n and revision(student) == n
    # Nothing changes: no new revision, no event.
    assert classmate.delete(f"/api/schedules/{sid}/hands/me").status_code == 200
    assert revision() == len(steps)
    announced = [(e, p["revision"]) for e, a, p in events if a != "user"]
    assert announced == [
        ("hand:raised", 1),
        ("hand:raised", 2),
        ("floor:granted", 3),
        ("floor:muted", 4),
        ("floor:withdrawn", 5),
        ("hand:lowered", 6),
        ("hand:raised", 7),
        ("hands:lowered", 8),
    ]
