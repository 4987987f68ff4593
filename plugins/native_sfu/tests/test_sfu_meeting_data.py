"""The SFU reaches its meeting only through portal.plugins.services: a change to the meeting's
data is the facade's compare-and-set, so two requests changing it at the same moment (two
clicks racing) both keep their change, and the room data the SFU stored at start survives."""

from __future__ import annotations

import threading

import pytest

from portal.core.models import Meeting
from portal.extensions import db
from portal.plugins import services


@pytest.mark.real_commits  # racing threads each commit on their own connection
def test_two_racing_updates_of_an_sfu_meeting_both_survive(sfu, login, app):
    assert login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start").status_code == 200
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    room_data = dict(meeting.data)
    assert room_data["room"] == meeting.backend_meeting_id  # what create_meeting stored
    # Both requests read the data before either writes: the interleaving that loses an
    # update with a plain read-modify-write.
    both_read = threading.Barrier(2, timeout=30)
    errors: list[Exception] = []

    def click(key: str) -> None:
        first_attempt = [True]

        def change(data: dict) -> None:
            if first_attempt.pop() if first_attempt else False:
                both_read.wait()
            data[key] = True

        with app.test_request_context():
            try:
                # Each click is its own request: its own unit of work, committed at its end.
                with services.unit_of_work():
                    record = services.find_meeting("native_sfu", meeting.backend_meeting_id)
                    services.update_meeting_data(record.id, change)
            except Exception as exc:  # pragma: no cover - reported by the assert below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=click, args=(key,)) for key in ("first_click", "second_click")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    services.refresh_reads()  # this thread's session still holds the row as read before
    data = services.get_meeting(meeting.id).data
    assert data["first_click"] is True and data["second_click"] is True
    assert {key: data[key] for key in room_data} == room_data


def test_the_join_token_carries_the_participants_portal_role_without_a_user_row(sfu, login, app):
    """The backend needs no User row to tell a teacher from a student: the role claim of the
    SFU token is the Participant's portal_role, as the core hands it over."""
    from flask_jwt_extended import decode_token

    from portal.core.registry import plugins
    from portal.plugins import MeetingHandle, Participant

    started = login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start").get_json()
    assert decode_token(started["join"]["embed"]["token"])["role"] == "teacher"
    joined = login(sfu.student).post(f"/api/schedules/{sfu.schedule.id}/join").get_json()
    assert decode_token(joined["embed"]["token"])["role"] == "student"

    room = started["join"]["embed"]["room"]
    backend = plugins().backends["native_sfu"]
    # A participant whose account the portal database does not hold (a guest-like join).
    visitor = Participant(
        user_id=987654,
        name="Visiting teacher",
        email="v@example.org",
        role="viewer",
        portal_role="teacher",
    )
    with app.test_request_context():
        target = backend.join(
            {},
            MeetingHandle(
                backend="native_sfu",
                meeting_id=room,
                data={"room": room, "schedule_id": sfu.schedule.id},
            ),
            visitor,
        )
        claims = decode_token(target.embed["token"])
    assert claims["role"] == "teacher" and claims["sfu_room"] == room


def test_the_facade_block_rule_and_join_are_the_cores(sfu, login, app):
    """services.require_not_blocked and services.join_class (what the SFU room page uses)
    apply the core's block rule: a student blocked from the class gets 403 "blocked" with
    the teacher's reason, and cannot join; a classmate joins the running class."""
    import pytest

    from portal.core import blocking
    from portal.plugins import Forbidden

    assert login(sfu.teacher).post(f"/api/schedules/{sfu.schedule.id}/start").status_code == 200
    blocking.block_user(
        sfu.teacher, user_id=sfu.student.id, scope="class", reason="spamming", class_id=sfu.klass.id
    )
    db.session.commit()
    with app.test_request_context():
        with pytest.raises(Forbidden) as refused:
            services.require_not_blocked(sfu.student.id, sfu.klass.id)
        assert refused.value.code == "blocked" and "spamming" in refused.value.message
        with pytest.raises(Forbidden):
            services.join_class(sfu.student.id, sfu.schedule.id)
        services.require_not_blocked(sfu.classmate.id, sfu.klass.id)
        target = services.join_class(sfu.classmate.id, sfu.schedule.id)
    assert target.kind == "embed" and target.embed["user_id"] == sfu.classmate.id
