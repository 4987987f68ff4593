"""Joining the class's meeting over the live socket (`class:join`, issue 20's 09:00 rush): the
waiting page already holds an authenticated socket, so the join needs no new HTTP request.
The ack is exactly the REST join's body, a refusal carries the REST join's code, joins that
arrive together are served together (one query, one attendance upsert, one commit) and one
refused student never costs the others their join."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token, decode_token
from test_guest_live import _guest, guest_socket  # noqa: F401  (a guest's page and socket)
from test_live import connect  # noqa: F401  (the fixture: real clients on the served app)

from portal import realtime, realtime_server
from portal.core import blocking, classes
from portal.core.models import Attendance, Meeting
from portal.core.types import utcnow
from portal.extensions import db

pytestmark = pytest.mark.real_commits


def _started(school, login) -> int:
    sid = school.schedule.id
    assert login(school.teacher).post(f"/api/schedules/{sid}/start").status_code == 200
    return sid


def _started_before_it_opens(school, login, students) -> int:
    """A class 25 minutes away with `students`, started by its teacher now: its room opens
    for students later, at the join window (10 minutes before by default)."""
    later = classes.create_class(
        school.teacher,
        classes.ClassInput(
            title="Geometry",
            starts_at=utcnow() + timedelta(minutes=25),
            duration_minutes=60,
            timezone="Europe/Paris",
        ),
    )
    classes.enrol(school.teacher, later.id, [student.id for student in students])
    db.session.commit()
    sid = classes.list_schedules(school.teacher, later.id)[0].id
    assert login(school.teacher).post(f"/api/schedules/{sid}/start").status_code == 200
    return sid


def _rest_join(login, user, sid) -> tuple[int, dict]:
    answer = login(user).post(f"/api/schedules/{sid}/join")
    return answer.status_code, answer.get_json()


def _block_from_class(school, user) -> None:
    blocking.block_user(
        school.teacher, user_id=user.id, scope="class", class_id=school.klass.id, reason="rude"
    )
    db.session.commit()


def _attendance(sid: int) -> dict[int | None, int]:
    """How many attendance rows each user has in the occurrence's meeting."""
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Attendance.user_id, sa.func.count())
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Meeting.schedule_id == sid)
        .group_by(Attendance.user_id)
    ).all()
    return {user_id: n for user_id, n in rows}


def test_the_ack_is_the_rest_joins_body_and_the_join_is_recorded_once(school, connect, login):  # noqa: F811
    sid = _started(school, login)
    student = connect(school.student)

    ack = student.call("class:join", {"schedule_id": sid})
    status, body = _rest_join(login, school.student, sid)
    assert status == 200
    assert ack.pop("ok") is True and ack == body
    assert body["kind"] == "redirect" and f"user={school.student.id}" in body["url"]
    # The teacher (a moderator) joins over the socket as over REST.
    teacher_ack = connect(school.teacher).call("class:join", {"schedule_id": sid})
    assert "role=moderator" in teacher_ack["url"]

    again = student.call("class:join", {"schedule_id": sid})
    assert again["ok"], again
    assert _attendance(sid)[school.student.id] == 1  # three joins, one attendance row


def test_refusals_carry_the_rest_joins_codes(school, connect, login, make_user):  # noqa: F811
    sid = school.schedule.id
    # Not started yet: the same refusal as the REST join.
    early = connect(school.student).call("class:join", {"schedule_id": sid})
    assert early["ok"] is False and early["error"]["code"] == "not_started"
    assert _rest_join(login, school.student, sid)[1]["error"]["code"] == "not_started"

    _started(school, login)
    _block_from_class(school, school.classmate)
    cases = {
        "not_found": (school.outsider, sid),  # not enrolled: the occurrence is not revealed
        "blocked": (school.classmate, sid),
    }
    for code, (user, schedule_id) in cases.items():
        ack = connect(user).call("class:join", {"schedule_id": schedule_id})
        rest_status, rest = _rest_join(login, user, schedule_id)
        assert ack["ok"] is False and ack["error"]["code"] == code, (code, ack)
        assert rest["error"]["code"] == code and rest_status in (403, 404)

    # Not open yet: the teacher started a class whose room opens for students later.
    later_sid = _started_before_it_opens(school, login, [school.student])
    ack = connect(school.student).call("class:join", {"schedule_id": later_sid})
    status, rest = _rest_join(login, school.student, later_sid)
    assert ack["ok"] is False and ack["error"]["code"] == "not_open_yet" == rest["error"]["code"]
    assert status == 409 and ack["error"]["message"] == rest["error"]["message"]

    bad = connect(school.student).call("class:join", {"schedule_id": "nine"})
    assert bad["ok"] is False and bad["error"]["code"] == "validation_error"
    assert school.outsider.id not in _attendance(sid) and school.classmate.id not in _attendance(
        sid
    )


def test_a_guest_socket_is_refused_as_for_other_events(school, login, app, guest_socket):  # noqa: F811
    sid = _started(school, login)
    _rest, _guest_id, token, _link = _guest(app, school, login)
    guest = guest_socket(token)
    ack = guest.call("class:join", {"schedule_id": sid})
    poll = guest.call("poll:list", {"schedule_id": sid})
    assert ack["ok"] is False and ack["error"]["code"] == "guest" and ack == poll


def test_joins_arriving_together_each_get_their_own_answer(school, connect, login, make_user):  # noqa: F811
    sid = _started(school, login)
    extra = [make_user("student") for _ in range(5)]
    classes.enrol(school.teacher, school.klass.id, [u.id for u in extra])
    db.session.commit()
    _block_from_class(school, school.classmate)
    people = [school.student, school.classmate, *extra]
    clients = [connect(user) for user in people]
    acks: dict[int, dict] = {}
    go = threading.Barrier(len(clients))

    def press(n: int) -> None:
        go.wait(10)
        acks[n] = clients[n].call("class:join", {"schedule_id": sid})

    threads = [threading.Thread(target=press, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert acks[1]["ok"] is False and acks[1]["error"]["code"] == "blocked"
    for n, user in enumerate(people):
        if n != 1:
            assert acks[n]["ok"] and f"user={user.id}&" in acks[n]["url"], acks[n]
    rows = _attendance(sid)
    assert school.classmate.id not in rows
    assert all(rows[u.id] == 1 for u in [school.student, *extra])


def _socket(user) -> realtime._Socket:
    claims = decode_token(create_access_token(identity=str(user.id)))
    return realtime._Socket(user_id=user.id, claims=claims)


def test_a_batch_is_one_query_one_upsert_and_one_commit_and_refusals_stay_its_own(
    app, school, login, make_user
):
    sid = _started(school, login)
    extra = [make_user("student") for _ in range(8)]
    classes.enrol(school.teacher, school.klass.id, [u.id for u in extra])
    db.session.commit()
    batch = [(_socket(u), {"schedule_id": sid}) for u in extra]
    batch.insert(3, (_socket(school.outsider), {"schedule_id": sid}))  # not enrolled
    batch.insert(5, (None, {"schedule_id": sid}))  # a socket gone before its turn
    batch.append((_socket(extra[0]), {"schedule_id": sid}))  # a second tab of one student
    statements: list[str] = []
    commits: list[int] = []

    def count(*args, **kw):
        statements.append(args[2])

    db.session.remove()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    sa.event.listen(db.engine, "commit", lambda *_: commits.append(1))
    try:
        with app.app_context():
            answers = realtime.serve_joins(batch)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    codes = [a["ok"] or a["error"]["code"] for a in answers]
    assert codes[3] == "not_found" and codes[5] == "not_authenticated"
    assert [c for n, c in enumerate(codes) if n not in (3, 5)] == [True] * 9
    # Two for the tokens (revocations, accounts), one for every join's rows, one upsert; the
    # site's language is read once more for the refusals, said in it (no user language set).
    reads_and_writes = [s for s in statements if not s.lstrip().upper().startswith("SAVEPOINT")]
    site_language = [s for s in reads_and_writes if "FROM site_settings" in s]
    assert len(site_language) == 1, reads_and_writes
    assert len(reads_and_writes) - len(site_language) == 4, reads_and_writes
    assert sum(commits) == 1
    rows = _attendance(sid)
    assert all(rows[u.id] == 1 for u in extra) and school.outsider.id not in rows


def test_joins_that_arrive_while_a_batch_is_served_are_served_together_next():
    served: list[list[int]] = []

    async def scenario() -> list[int]:
        release = asyncio.Event()

        async def serve(items: list[int]) -> list[int]:
            served.append(items)
            await release.wait()
            return [item * 10 for item in items]

        batches = realtime_server._Batches(serve, most=4)
        first = asyncio.ensure_future(batches.submit(1))
        await asyncio.sleep(0)  # the first batch is being served
        later = [asyncio.ensure_future(batches.submit(n)) for n in range(2, 8)]
        await asyncio.sleep(0)
        release.set()
        return [await first, *[await f for f in later]]

    assert asyncio.run(scenario()) == [10, 20, 30, 40, 50, 60, 70]
    # Six arrived while the first was served: two batches of at most four, not six hops.
    assert served == [[1], [2, 3, 4, 5], [6, 7]]


def _sfu_meeting(school) -> tuple[int, str]:
    """The occurrence's meeting running on the bundled SFU, as its create left it (its worker
    rooms are not needed to join): (occurrence id, room)."""
    from portal.core.models import BackendConfig

    config = BackendConfig(
        name="Built-in video", backend="native_sfu", enabled=True, is_default=False, settings={}
    )
    db.session.add(config)
    db.session.flush()
    sid = school.schedule.id
    room = f"room-{sid}"
    db.session.add(
        Meeting(
            schedule_id=sid,
            backend_config_id=config.id,
            backend="native_sfu",
            backend_meeting_id=room,
            data={"room": room, "schedule_id": sid},
            status="running",
            started_at=utcnow(),
            started_by=school.teacher.id,
            updated_at=utcnow(),
        )
    )
    db.session.commit()
    return sid, room


def test_a_backend_that_builds_portal_urls_joins_over_the_socket_as_over_rest(
    school,
    connect,  # noqa: F811
    login,
    app,
):
    """The bundled SFU's join target points at the portal's own routes (url_for, _external):
    the realtime server has no request of its own, so it answers on the portal's address."""
    sid, room = _sfu_meeting(school)

    ack = connect(school.student).call("class:join", {"schedule_id": sid})
    status, body = _rest_join(login, school.student, sid)
    assert ack.pop("ok") is True, ack
    assert status == 200 and ack["kind"] == body["kind"] == "embed"
    base = app.config["BASE_URL"].rstrip("/")
    assert ack["url"].startswith(base + "/") and ack["url"].endswith(room)
    # The same target on the portal's public address (the test client's requests are on
    # http://localhost), but for the student's own fresh media token.
    ack["embed"].pop("token"), body["embed"].pop("token")
    rest = json.loads(json.dumps(body["embed"]).replace("http://localhost", base))
    assert ack["embed"] == rest


def test_a_join_refused_over_the_socket_is_said_in_the_students_language(
    school,
    connect,  # noqa: F811
    login,
):
    """The waiting page shows the ack's message: a French student reads the refusal in
    French, as over REST, even when joined in one batch with a Spanish classmate."""
    school.student.locale = "fr"
    school.classmate.locale = "es"
    db.session.commit()
    sid = school.schedule.id
    early = connect(school.student).call("class:join", {"schedule_id": sid})
    assert early["error"] == {
        "code": "not_started",
        "message": "l'enseignant n'a pas encore commencé ce cours",
    }
    status, body = _rest_join(login, school.student, sid)
    assert status == 409 and body["error"]["message"] == early["error"]["message"]
    assert connect(school.classmate).call("class:join", {"schedule_id": sid})["error"][
        "message"
    ] == ("el profesor aún no ha empezado esta clase")


def test_a_refusal_with_a_time_in_it_is_said_in_each_joiners_language(
    school,
    connect,  # noqa: F811
    login,
):
    """A teacher starts a class before its room opens for students: a French and a Spanish
    student joining over the socket each read "opens at <time>" in their own language, as
    the REST join says it. The socket's joins run for many students at once, outside any
    one student's language: the time goes into the sentence when it is shown, translated."""
    school.student.locale = "fr"
    school.classmate.locale = "es"
    sid = _started_before_it_opens(school, login, [school.student, school.classmate])
    for student, opens in ((school.student, "ce cours ouvre"), (school.classmate, "se abre")):
        ack = connect(student).call("class:join", {"schedule_id": sid})
        status, rest = _rest_join(login, student, sid)
        assert status == 409 and rest["error"]["code"] == "not_open_yet" == ack["error"]["code"]
        assert opens in rest["error"]["message"]
        assert ack["error"]["message"] == rest["error"]["message"]


def _sfu_batch(app, school, make_user, statements: list[str] | None = None):
    """Eight students of the class on the SFU, one of them granted the microphone, and the
    teacher, joining in one batch: (students, the granted one, acks by user id)."""
    from portal.core import floor

    sid, _room = _sfu_meeting(school)
    students = [make_user("student") for _ in range(8)]
    classes.enrol(school.teacher, school.klass.id, [u.id for u in students])
    db.session.commit()
    floor.grant(school.teacher, sid, students[2].id, mic=True)
    db.session.commit()
    people = [*students, school.teacher]
    batch = [(_socket(u), {"schedule_id": sid}) for u in people]

    def count(*args, **kw):
        if statements is not None:
            statements.append(args[2])

    db.session.remove()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        with app.app_context():
            answers = realtime.serve_joins(batch)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return students, students[2], {u.id: a for u, a in zip(people, answers, strict=True)}


def test_a_class_joining_together_on_the_sfu_gets_each_ones_floor_and_token(app, school, make_user):
    """At a pushed start a class's students arrive in one batch: the SFU answers them
    together (its floor read in one query, not one per student), and each still gets their
    own media token and their own floor: the granted student may send, the others not, the
    teacher everything."""
    statements: list[str] = []
    students, granted, acks = _sfu_batch(app, school, make_user, statements)
    assert all(ack["ok"] for ack in acks.values()), acks
    for user_id, ack in acks.items():
        assert ack["embed"]["user_id"] == user_id
        with app.app_context():
            assert decode_token(ack["embed"]["token"])["sub"] == str(user_id)
    assert acks[granted.id]["embed"]["floor"]["mic"] is True
    assert acks[granted.id]["embed"]["can_publish"] is True
    for student in students:
        if student is not granted:
            assert acks[student.id]["embed"]["can_publish"] is False, acks[student.id]
    teacher = acks[school.teacher.id]["embed"]
    assert teacher["manager"] is True and teacher["floor"]["screen"] is True
    seat_reads = [s for s in statements if "FROM floor_seats" in s]
    assert len(seat_reads) == 1, seat_reads


def test_a_batch_join_that_fails_answers_each_of_its_joiners_with_the_backends_503(
    app, school, make_user, monkeypatch
):
    """The SFU's batch join down (its raise fails all of the batch's joiners alike, as one
    join's would fail one): every student gets the clear 503, none a 500 or a silent ack,
    and no one is recorded as having joined."""
    from portal.core.backends import backend_plugin
    from portal.plugins import BackendUnavailable

    def down(settings, handle, participants):
        raise BackendUnavailable("the media worker does not answer")

    sid = school.schedule.id
    with app.app_context():
        monkeypatch.setattr(backend_plugin("native_sfu"), "join_many", down)
    students, _granted, acks = _sfu_batch(app, school, make_user)
    for ack in acks.values():
        assert ack["ok"] is False and ack["error"]["code"] == "backend_unavailable", ack
        assert "the media worker does not answer" in ack["error"]["message"]
    assert not set(_attendance(sid)) & {s.id for s in students}
