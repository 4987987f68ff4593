"""The live panel's REST fallback: the same rules as the socket events, over plain HTTP."""

from __future__ import annotations

import csv
import io

import pytest

from portal.core import blocking
from portal.core.models import ChatMessage, ClassMute, PollVote
from portal.extensions import db


def test_chat_post_list_and_page(school, login):
    sid = school.schedule.id
    student = login(school.student)
    ids = []
    for n in range(5):
        response = student.post(f"/api/schedules/{sid}/chat", json={"body": f"  hello {n} "})
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    assert response.get_json()["body"] == "hello 4"
    assert response.get_json()["user"] == {
        "id": school.student.id,
        "name": school.student.name,
        "role": "student",
    }

    page = login(school.teacher).get(f"/api/schedules/{sid}/chat?limit=2").get_json()
    assert [m["id"] for m in page["messages"]] == ids[3:] and page["has_more"] is True
    older = (
        login(school.classmate)
        .get(f"/api/schedules/{sid}/chat?limit=10&before_id={ids[3]}")
        .get_json()
    )
    assert [m["body"] for m in older["messages"]] == ["hello 0", "hello 1", "hello 2"]
    assert older["has_more"] is False


def test_chat_refuses_outsiders_blocked_muted_and_bad_input(school, login, app):
    sid = school.schedule.id
    assert (
        login(school.outsider).post(f"/api/schedules/{sid}/chat", json={"body": "hi"}).status_code
        == 404
    )
    assert login(school.other_teacher).get(f"/api/schedules/{sid}/chat").status_code == 404
    assert (
        login(school.student).post(f"/api/schedules/{sid}/chat", json={"body": ""}).status_code
        == 400
    )

    app.config["CHAT_MAX_LENGTH"] = 10
    too_long = login(school.student).post(f"/api/schedules/{sid}/chat", json={"body": "x" * 11})
    assert too_long.status_code == 400 and too_long.get_json()["error"]["code"] == "too_long"

    teacher = login(school.teacher)
    assert (
        teacher.post(
            f"/api/classes/{school.klass.id}/mutes", json={"user_id": school.student.id}
        ).status_code
        == 204
    )
    muted = login(school.student).post(f"/api/schedules/{sid}/chat", json={"body": "hi"})
    assert muted.status_code == 403 and muted.get_json()["error"]["code"] == "muted"
    assert [
        m["user_id"] for m in teacher.get(f"/api/classes/{school.klass.id}/mutes").get_json()
    ] == [school.student.id]
    assert login(school.student).get(f"/api/classes/{school.klass.id}/mutes").status_code == 403
    assert (
        teacher.delete(f"/api/classes/{school.klass.id}/mutes/{school.student.id}").status_code
        == 204
    )
    assert db.session.execute(db.select(ClassMute)).first() is None
    assert (
        login(school.student).post(f"/api/schedules/{sid}/chat", json={"body": "hi"}).status_code
        == 201
    )
    cannot = teacher.post(
        f"/api/classes/{school.klass.id}/mutes", json={"user_id": school.teacher.id}
    )
    assert cannot.status_code == 400
    assert (
        teacher.post(
            f"/api/classes/{school.klass.id}/mutes", json={"user_id": school.outsider.id}
        ).status_code
        == 404
    )

    # A token issued before the block stays valid for its lifetime; every action re-checks.
    blocked = login(school.classmate)
    blocking.block_user(school.admin, user_id=school.classmate.id, scope="site", reason="spam")
    db.session.commit()
    response = blocked.post(f"/api/schedules/{sid}/chat", json={"body": "hi"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "blocked"
    assert blocked.get(f"/api/schedules/{sid}/polls").status_code == 403


def test_chat_rate_limit_is_per_user(school, login, app):
    app.config["CHAT_RATE_LIMIT"] = "2 per minute"
    sid = school.schedule.id
    student = login(school.student)
    codes = [
        student.post(f"/api/schedules/{sid}/chat", json={"body": f"m{n}"}).status_code
        for n in range(3)
    ]
    assert codes == [201, 201, 429]
    assert (
        login(school.classmate)
        .post(f"/api/schedules/{sid}/chat", json={"body": "me too"})
        .status_code
        == 201
    )
    assert db.session.execute(db.select(db.func.count(ChatMessage.id))).scalar_one() == 3


def test_only_the_teacher_deletes_messages(school, login):
    sid = school.schedule.id
    message = (
        login(school.student).post(f"/api/schedules/{sid}/chat", json={"body": "oops"}).get_json()
    )
    assert login(school.classmate).delete(f"/api/chat/{message['id']}").status_code == 403
    assert login(school.outsider).delete(f"/api/chat/{message['id']}").status_code == 404
    assert login(school.teacher).delete(f"/api/chat/{message['id']}").status_code == 204
    assert login(school.teacher).delete(f"/api/chat/{message['id']}").status_code == 404
    assert login(school.student).get(f"/api/schedules/{sid}/chat").get_json()["messages"] == []
    assert (
        db.session.get(ChatMessage, message["id"]).deleted_by == school.teacher.id
    )  # kept, hidden


def test_poll_lifecycle_over_rest(school, login):
    sid = school.schedule.id
    teacher, student, classmate = (
        login(school.teacher),
        login(school.student),
        login(school.classmate),
    )
    assert (
        teacher.post(
            f"/api/schedules/{sid}/polls", json={"question": "?", "options": ["only"]}
        ).status_code
        == 400
    )
    eleven = [f"o{n}" for n in range(11)]
    assert (
        teacher.post(
            f"/api/schedules/{sid}/polls", json={"question": "?", "options": eleven}
        ).status_code
        == 400
    )
    dup = teacher.post(f"/api/schedules/{sid}/polls", json={"question": "?", "options": ["a", "A"]})
    assert dup.status_code == 400 and dup.get_json()["error"]["code"] == "duplicate_option"
    assert (
        student.post(
            f"/api/schedules/{sid}/polls", json={"question": "?", "options": ["a", "b"]}
        ).status_code
        == 403
    )

    created = teacher.post(
        f"/api/schedules/{sid}/polls", json={"question": "Best day?", "options": ["Mon", "=Fri()"]}
    )
    assert created.status_code == 201
    poll = created.get_json()
    mon, fri = (o["id"] for o in poll["options"])
    assert poll["status"] == "draft" and poll["results"]["voters"] == 0
    assert (
        student.get(f"/api/schedules/{sid}/polls").get_json() == []
    )  # drafts stay with the teacher
    assert (
        student.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": [mon]}).status_code == 404
    )

    assert teacher.post(f"/api/polls/{poll['id']}/open").get_json()["status"] == "open"
    assert teacher.post(f"/api/polls/{poll['id']}/open").status_code == 409
    assert (
        student.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": [mon]}).status_code == 200
    )
    second = student.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": [fri]})
    assert second.get_json() == {"poll_id": poll["id"], "my_vote": [fri]}
    assert (
        classmate.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": [fri]}).status_code
        == 200
    )
    assert (
        student.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": [999999]}).status_code
        == 400
    )
    assert db.session.execute(db.select(db.func.count(PollVote.id))).scalar_one() == 2

    hidden = student.get(f"/api/polls/{poll['id']}/results")
    assert hidden.status_code == 403 and hidden.get_json()["error"]["code"] == "results_hidden"
    listed = student.get(f"/api/schedules/{sid}/polls").get_json()
    assert listed[0]["my_vote"] == [fri] and listed[0].get("results") is None
    full = teacher.get(f"/api/polls/{poll['id']}/results").get_json()
    assert [o["votes"] for o in full["options"]] == [0, 2]
    assert {v["id"] for v in full["options"][1]["voters"]} == {
        school.student.id,
        school.classmate.id,
    }

    assert teacher.post(f"/api/polls/{poll['id']}/close").status_code == 200
    closed = classmate.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": [mon]})
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "poll_closed"
    assert (
        teacher.post(f"/api/polls/{poll['id']}/publish", json={}).get_json()["results_published"]
        is True
    )
    public = student.get(f"/api/polls/{poll['id']}/results").get_json()
    assert [o["votes"] for o in public["options"]] == [0, 2] and public["options"][1].get(
        "voters"
    ) is None

    export = teacher.get(f"/api/schedules/{sid}/polls/export?format=csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [(r["option"], r["votes"]) for r in rows] == [("Mon", "0"), ("'=Fri()", "2")]
    assert school.student.name in rows[1]["voters"] and school.classmate.name in rows[1]["voters"]
    as_json = teacher.get(f"/api/polls/{poll['id']}/export?format=json").get_json()
    assert as_json["polls"][0]["results"]["voters"] == 2
    assert student.get(f"/api/schedules/{sid}/polls/export").status_code == 403


def test_anonymous_poll_never_reveals_voters(school, login):
    sid = school.schedule.id
    teacher, student = login(school.teacher), login(school.student)
    poll = teacher.post(
        f"/api/schedules/{sid}/polls",
        json={"question": "Too fast?", "options": ["yes", "no"], "anonymous": True},
    ).get_json()
    teacher.post(f"/api/polls/{poll['id']}/open")
    student.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": [poll["options"][0]["id"]]})
    results = teacher.get(f"/api/polls/{poll['id']}/results").get_json()
    assert results["options"][0]["votes"] == 1 and results["options"][0].get("voters") is None
    text = teacher.get(f"/api/schedules/{sid}/polls/export?format=csv").get_data(as_text=True)
    assert school.student.name not in text


def test_presence_endpoint_and_openapi(school, login, client):
    sid = school.schedule.id
    assert login(school.student).get(f"/api/schedules/{sid}/presence").get_json() == {
        "schedule_id": sid,
        "users": [],
    }
    assert login(school.outsider).get(f"/api/schedules/{sid}/presence").status_code == 404
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/polls/{poll_id}/vote", "/api/schedules/{schedule_id}/chat"} <= set(paths)


@pytest.mark.real_commits  # racing threads each commit on their own connection
def test_racing_ballots_of_one_student_leave_exactly_one_vote(school, app):
    import threading

    from portal.core import polls, unit_of_work
    from portal.core.errors import Conflict
    from portal.core.models import User

    with unit_of_work.scope():  # the test owns these units of work (services never commit)
        poll = polls.create_poll(
            school.teacher,
            school.schedule.id,
            question="Pick one",
            options=[f"o{n}" for n in range(6)],
        )
        polls.open_poll(school.teacher, poll["id"])
    option_ids = [o["id"] for o in poll["options"]]
    student_id = school.student.id  # read here: the threads must not load this session's rows
    outcomes: list[str] = []

    def ballot(option_id: int) -> None:
        with app.app_context():
            try:
                with unit_of_work.scope():
                    polls.vote(db.session.get(User, student_id), poll["id"], [option_id])
                outcomes.append("ok")
            except Conflict as exc:
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=ballot, args=(option_id,)) for option_id in option_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 6 and set(outcomes) <= {"ok", "vote_conflict"} and "ok" in outcomes
    db.session.expire_all()
    rows = (
        db.session.execute(db.select(PollVote.option_id).filter_by(poll_id=poll["id"]))
        .scalars()
        .all()
    )
    assert len(rows) == 1 and rows[0] in option_ids


def test_the_teachers_changes_raise_a_polls_revision_and_votes_its_vote_seq(school, login):
    """Pages order what they hear of a poll (acks, pushes, refreshes) by revision and its
    results by (revision, vote_seq): open, close, publish and hide each answer a higher
    revision than any view read before; a vote (also a changed one) raises only the
    results' vote_seq; a refused change leaves both where they were."""
    from portal.core import live_state

    pushed: list[tuple[str, dict]] = []

    def record(_sender, *, event, payload, **_):
        pushed.append((event, payload))

    live_state.live_event.connect(record)
    try:
        sid = school.schedule.id
        teacher, student, classmate = (
            login(school.teacher),
            login(school.student),
            login(school.classmate),
        )
        poll = teacher.post(
            f"/api/schedules/{sid}/polls", json={"question": "Tea?", "options": ["yes", "no"]}
        ).get_json()
        pid, (yes, no) = poll["id"], (o["id"] for o in poll["options"])
        assert poll["revision"] == 1 and poll["results"]["vote_seq"] == 0

        def seen(client) -> tuple[int, int | None]:
            listed = client.get(f"/api/schedules/{sid}/polls").get_json()[0]
            return listed["revision"], (listed.get("results") or {}).get("vote_seq")

        opened = teacher.post(f"/api/polls/{pid}/open").get_json()
        assert opened["revision"] == 2 and seen(student) == (2, None)
        assert teacher.post(f"/api/polls/{pid}/open").status_code == 409
        seqs = []
        for client, choice in ((student, yes), (classmate, yes), (student, no)):
            assert client.post(f"/api/polls/{pid}/vote", json={"option_ids": [choice]}).status_code
            revision, seq = seen(teacher)
            assert revision == 2
            seqs.append(seq)
        assert seqs[0] < seqs[1] < seqs[2]
        results = [p for e, p in pushed if e == "poll:results"]
        assert [(r["revision"], r["vote_seq"]) for r in results] == [(2, s) for s in seqs]
        assert teacher.post(f"/api/polls/{pid}/close").get_json()["revision"] == 3
        published = teacher.post(f"/api/polls/{pid}/publish", json={"published": True})
        assert published.get_json()["revision"] == 4
        assert published.get_json()["results"]["vote_seq"] == seqs[2]
        hidden = teacher.post(f"/api/polls/{pid}/publish", json={"published": False})
        assert hidden.get_json()["revision"] == 5 and seen(student) == (5, None)
        events = [(e, p.get("revision")) for e, p in pushed if e != "poll:results"]
        assert events == [
            ("poll:created", 1),
            ("poll:opened", 2),
            ("poll:closed", 3),
            ("poll:unpublished", 5),
        ]
        assert [p for e, p in pushed if e == "poll:unpublished"][0]["schedule_id"] == sid
    finally:
        live_state.live_event.disconnect(record)
