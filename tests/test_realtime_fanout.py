"""What the realtime server spends per socket when a room is large (issue 20): a room emit
reaches every socket once, in order, without an asyncio task per recipient; a burst of
connects is checked for revocation and the account together (two queries for the batch),
refusing exactly the sockets the one-by-one check refused."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token, decode_token
from live_client import LiveClient, close_all

from portal import realtime, realtime_server
from portal.core import auth_tokens
from portal.core.errors import PortalError
from portal.extensions import db

pytestmark = pytest.mark.real_commits


def _server_of(app) -> realtime_server.RealtimeServer:
    emitter = app.extensions[realtime.EMITTER_KEY]
    assert isinstance(emitter, realtime.LocalEmitter)
    return emitter.server


def test_a_room_emit_reaches_everyone_once_without_a_task_per_recipient(
    app, school, make_user, portal_url
):
    sid = school.schedule.id
    people = [school.teacher, school.student, school.classmate]
    extra = [make_user("student") for _ in range(5)]
    from portal.core import classes

    classes.enrol(school.teacher, school.klass.id, [u.id for u in extra])
    db.session.commit()
    clients: list[LiveClient] = []
    try:
        for user in people + extra:
            token = create_access_token(identity=str(user.id))
            client = LiveClient(portal_url, token, origin=app.config["BASE_URL"], name=user.name)
            clients.append(client)
            client.connect()
            assert client.join(sid)["ok"]
        server = _server_of(app)
        assert server.loop is not None
        started = Counter()

        def counting_factory(loop, coro, **kw):
            started[getattr(coro, "__qualname__", "?")] += 1
            return asyncio.Task(coro, loop=loop, **kw)

        server.loop.call_soon_threadsafe(server.loop.set_task_factory, counting_factory)
        sender = clients[0]
        for n in range(3):
            assert sender.call("chat:send", {"schedule_id": sid, "body": f"hello {n}"})["ok"]
        for client in clients:
            got = [m["body"] for m in client.wait_count("chat:message", 3)]
            assert got == ["hello 0", "hello 1", "hello 2"]  # each once, in order
        server.loop.call_soon_threadsafe(server.loop.set_task_factory, None)
    finally:
        close_all(clients)
    # 3 messages x 8 sockets were queued; python-socketio's own room emit starts a task
    # (AsyncServer._send_eio_packet) for each of those 24 deliveries.
    assert started["AsyncServer._send_eio_packet"] == 0, started


def _claims(user, **extra) -> dict:
    return decode_token(create_access_token(identity=str(user.id), additional_claims=extra))


def test_a_burst_of_connects_costs_two_queries_and_refuses_what_one_by_one_refuses(app, make_user):
    people = [make_user("student") for _ in range(8)]
    signed_out, disabled = make_user("student"), make_user("student")
    batch = [_claims(u, sid=f"session-{u.id}") for u in people]
    revoked = _claims(signed_out, sid="gone")
    auth_tokens.revoke(revoked)
    disabled.is_active = False
    db.session.commit()
    expired = dict(_claims(people[0]), exp=1)
    batch += [revoked, _claims(disabled), expired, dict(_claims(people[1]), sub="nobody")]
    people_ids = [u.id for u in people]
    statements: list[str] = []

    def count(*args, **kw):
        statements.append(args[2])

    db.session.remove()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        verdicts = realtime.check_connects(batch)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 2, statements  # the revocations and the users, for all 12

    assert verdicts[:8] == people_ids
    codes = [v.code for v in verdicts[8:] if isinstance(v, PortalError)]
    assert codes == ["token_revoked", "not_authenticated", "token_expired", "not_authenticated"]
    # The same verdicts as the check every later event makes, one token at a time.
    for claims, verdict in zip(batch, verdicts, strict=True):
        try:
            one_by_one: int | str = realtime._check_claims(claims).id
        except PortalError as exc:
            one_by_one = exc.code
        assert one_by_one == (verdict if isinstance(verdict, int) else verdict.code)
        db.session.rollback()


def test_sockets_connecting_together_are_admitted_or_refused_each_by_its_own_token(
    app, make_user, portal_url
):
    people = [make_user("student") for _ in range(6)]
    signed_out = make_user("student")
    token = create_access_token(identity=str(signed_out.id), additional_claims={"sid": "s1"})
    auth_tokens.revoke(decode_token(token))
    db.session.commit()
    tokens = [create_access_token(identity=str(u.id)) for u in people] + [token]
    clients = [LiveClient(portal_url, t, origin=app.config["BASE_URL"]) for t in tokens]
    import threading

    outcomes: dict[int, str] = {}

    def open_page(n: int) -> None:
        try:
            clients[n].connect()
            outcomes[n] = "connected"
        except Exception:
            outcomes[n] = (clients[n].connect_error or {}).get("data", {}).get("code", "?")

    threads = [threading.Thread(target=open_page, args=(n,)) for n in range(len(clients))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        server = _server_of(app)
        kept = {tuple(sorted(state.claims)) for state in server.sockets.values()}
    finally:
        close_all(clients)
    assert [outcomes[n] for n in range(len(people))] == ["connected"] * len(people)
    assert outcomes[len(people)] == "token_revoked"
    # A held socket keeps only the claims its events check again.
    assert kept and all(set(k) <= set(realtime._KEPT_CLAIMS) for k in kept)
