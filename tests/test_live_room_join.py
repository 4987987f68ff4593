"""The room joins of waiting pages that arrive together are served together (issue 20's
09:00 rush: every page joins its class's room on connect): one access query per room, one
read of its chat, polls, state and presented page, one Redis round trip, one commit. Each
page still gets the answer its join alone gets, and a refused page never costs the others
their join."""

from __future__ import annotations

import pytest
from flask_jwt_extended import create_access_token, decode_token
from test_live_join import _attendance, _block_from_class, _started

from portal import realtime
from portal.core import chat, classes, polls
from portal.extensions import db

pytestmark = pytest.mark.real_commits


def _socket(user) -> realtime._Socket:
    claims = decode_token(create_access_token(identity=str(user.id)))
    return realtime._Socket(user_id=user.id, claims=claims)


def _without_presence(answer: dict) -> dict:
    # The presence list is read after every join of the batch: it lists them all.
    return {key: value for key, value in answer.items() if key != "presence"}


def test_a_batch_of_room_joins_answers_each_page_as_alone_and_refuses_only_the_refused(
    app, school, login, make_user
):
    sid = _started(school, login)
    muted, voter = make_user("student"), make_user("student")
    classes.enrol(school.teacher, school.klass.id, [muted.id, voter.id])
    db.session.commit()
    draft = polls.create_poll(school.teacher, sid, question="Later?", options=["a", "b"])
    shown = polls.create_poll(school.teacher, sid, question="Now?", options=["yes", "no"])
    polls.open_poll(school.teacher, shown["id"])
    polls.vote(voter, shown["id"], [shown["options"][1]["id"]])
    polls.publish_results(school.teacher, shown["id"], True)
    chat.post_message(school.teacher, sid, "Welcome")
    chat.set_muted(school.teacher, school.klass.id, muted.id, True)
    db.session.commit()
    _block_from_class(school, school.classmate)

    batch = [
        ("page-student", _socket(school.student), {"schedule_id": sid}),
        ("page-outsider", _socket(school.outsider), {"schedule_id": sid}),  # not enrolled
        ("page-teacher", _socket(school.teacher), {"schedule_id": sid}),
        ("page-blocked", _socket(school.classmate), {"schedule_id": sid}),
        ("page-muted", _socket(muted), {"schedule_id": sid}),
        ("page-nowhere", _socket(voter), {"schedule_id": 2**31 - 1}),  # no such occurrence
        ("page-bad", _socket(voter), {"schedule_id": "x"}),
        ("page-voter", _socket(voter), {"schedule_id": sid, "limit": 1}),
    ]
    with app.app_context():
        alone = [realtime.serve_room_joins([(f"{page}-alone", *rest)])[0] for page, *rest in batch]
    with app.app_context():
        together = realtime.serve_room_joins(batch)

    codes = [a["ok"] or a["error"]["code"] for a in together]
    refused = ["not_found", "blocked", "not_found", "validation_error"]
    assert codes == [True, refused[0], True, refused[1], True, *refused[2:], True]
    assert together[3]["error"]["message"] == "you are blocked from this class: rude"
    assert [_without_presence(a) for a in together] == [_without_presence(a) for a in alone]
    student, teacher, muted_page, voter_page = (together[n] for n in (0, 2, 4, 7))
    assert [m["body"] for m in student["messages"]] == ["Welcome"] and not student["has_more"]
    assert teacher["manager"] and not student["manager"]
    assert muted_page["muted"] and not student["muted"] and not teacher["muted"]
    assert [p["id"] for p in teacher["polls"]] == [draft["id"], shown["id"]]
    assert [p["id"] for p in student["polls"]] == [shown["id"]]
    assert voter_page["polls"][0]["my_vote"] == [shown["options"][1]["id"]]
    assert student["polls"][0]["my_vote"] == []
    assert "voters" in teacher["polls"][1]["results"]["options"][1]
    assert "voters" not in student["polls"][0]["results"]["options"][1]
    assert teacher["presentation"]["may_present"] and not student["presentation"]["may_present"]
    assert len(voter_page["messages"]) == 1
    here = {u["id"] for u in student["presence"]}
    assert here == {school.student.id, school.teacher.id, muted.id, voter.id}
    rows = _attendance(sid)
    assert {school.student.id, muted.id, voter.id} <= set(rows)
    assert school.outsider.id not in rows and school.classmate.id not in rows
