"""Who commits, and when events leave the process.

One owner per unit of work commits: the API decorator and the page handlers (a request),
`portal.tasks.run_job` (a job), each CLI command, the realtime server per acknowledged event,
and a plugin's own work wrapped in `scope()` (re-exported as `portal.plugins.services.
unit_of_work`). Services only flush, except the documented atomic claims (starting a
meeting, claiming a notification or a reminder) that must be visible to other processes
before a slow outside call; tests/test_transaction_owner.py lists them.

Events that reach outside the transaction (plugin event hooks such as class_started, live
pushes through live_state) are queued with `after_commit` and sent once the transaction that
queued them has committed (SQLAlchemy session events, so whoever commits, the events follow the
data). A rollback drops the queue, so nobody hears of a change that never happened.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from portal.extensions import db

log = logging.getLogger(__name__)

PENDING = "portal.after_commit"  # queued in the open transaction
COMMITTED = "portal.committed"  # its transaction committed: send once the session is free
WROTE = "portal.wrote"  # something was flushed in the open transaction
AT_END = "portal.at_end"  # run when the open transaction ends, committed or not
DEPTH = "portal.scope_depth"  # how many scope() blocks are open on this session


def after_commit(callback: Callable[[], Any]) -> None:
    """Run `callback` once the current transaction commits; forget it if it rolls back."""
    db.session.info.setdefault(PENDING, []).append(callback)


def at_transaction_end(callback: Callable[[], Any]) -> None:
    """Run `callback` when the current transaction ends, committed or rolled back, after the
    committed events were sent (e.g. to release a lock that orders a room's broadcasts)."""
    session = db.session()
    session.connection()  # begin the transaction now, so it is the one whose end counts
    session.info.setdefault(AT_END, []).append(callback)


def pending_events() -> int:
    """How many events wait for the commit (for tests and debugging)."""
    return len(db.session.info.get(PENDING, ()))


def commit() -> None:
    """The owner's commit: the data becomes durable, then the queued events are sent."""
    db.session.commit()


def rollback() -> None:
    db.session.rollback()


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """One unit of work for code that no request, job or command owns (a plugin's webhook
    handler or sync loop): commit at the end, roll back and re-raise on error; the events
    queued with `after_commit` follow the commit. A nested scope joins the outer one."""
    session = db.session()
    depth = session.info.get(DEPTH, 0)
    session.info[DEPTH] = depth + 1
    try:
        yield
        if depth == 0:
            commit()
    except BaseException:
        if depth == 0:
            rollback()
        raise
    finally:
        session.info[DEPTH] = depth


def init_app(app: Flask) -> None:
    """Every request owns its transaction, also a plugin's view that does not commit itself:
    an answer below 400 commits what the request wrote, anything else rolls it back."""

    @app.after_request
    def _finish_request(response: Response) -> Response:
        session = db.session()
        wrote = _wrote(session)
        session.info.pop(WROTE, None)
        if not session.in_transaction() or not (wrote or session.info.get(PENDING)):
            return response  # a read-only request: nothing to commit (and nothing expired)
        if response.status_code < 400:
            commit()
        else:
            rollback()
        return response


def _wrote(session: Session) -> bool:
    """Whether the open transaction changed anything (flushed, or still to flush)."""
    return bool(session.info.get(WROTE) or session.new or session.dirty or session.deleted)


@event.listens_for(Session, "after_flush")
def _note_write(session: Session, _flush_context: Any) -> None:
    session.info[WROTE] = True


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    # No SQL may run inside after_commit; the events go out when the transaction has ended.
    session.info.pop(WROTE, None)
    queued = session.info.pop(PENDING, None)
    if queued:
        session.info.setdefault(COMMITTED, []).extend(queued)


@event.listens_for(Session, "after_transaction_end")
def _send_committed(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint; only the outermost transaction's end counts
    queue = session.info.pop(COMMITTED, None)
    at_end = session.info.pop(AT_END, None)
    for callback in queue or ():
        try:
            callback()
            if session.in_transaction() and _wrote(session):
                session.commit()  # what a hook wrote (a plugin's own rows); its own events follow
        except Exception:
            session.rollback()
            log.exception("an after-commit event failed; the committed change stands")
    for callback in at_end or ():
        try:
            callback()
        except Exception:
            log.exception("an end-of-transaction callback failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_queued_events(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # a savepoint's rollback keeps the outer queue
        session.info.pop(PENDING, None)
        session.info.pop(WROTE, None)
