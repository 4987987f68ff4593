"""Who commits, and when events leave the process.

One owner per unit of work commits: the API decorator and the page handlers (a request),
`portal.tasks.run_job` (a job) and each CLI command. Services only flush, except the
documented atomic claims (starting a meeting, claiming a notification) that must be visible
to other processes before a slow outside call.

Events that reach outside the transaction (plugin event hooks such as class_started, live
pushes through live_state) are queued with `after_commit` and sent once the transaction that
queued them has committed (SQLAlchemy session events, so whoever commits, the events follow the
data). A rollback drops the queue, so nobody hears of a change that never happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from portal.extensions import db

log = logging.getLogger(__name__)

PENDING = "portal.after_commit"  # queued in the open transaction
COMMITTED = "portal.committed"  # its transaction committed: send once the session is free
WROTE = "portal.wrote"  # something was flushed in the open transaction


def after_commit(callback: Callable[[], Any]) -> None:
    """Run `callback` once the current transaction commits; forget it if it rolls back."""
    db.session.info.setdefault(PENDING, []).append(callback)


def pending_events() -> int:
    """How many events wait for the commit (for tests and debugging)."""
    return len(db.session.info.get(PENDING, ()))


def commit() -> None:
    """The owner's commit: the data becomes durable, then the queued events are sent."""
    db.session.commit()


def rollback() -> None:
    db.session.rollback()


def init_app(app: Flask) -> None:
    """Every request owns its transaction, also a plugin's view that does not commit itself:
    an answer below 400 commits what the request wrote, anything else rolls it back."""

    @app.after_request
    def _finish_request(response: Response) -> Response:
        session = db.session()
        wrote = session.info.pop(WROTE, False) or session.new or session.dirty or session.deleted
        if not session.in_transaction() or not (wrote or session.info.get(PENDING)):
            return response  # a read-only request: nothing to commit (and nothing expired)
        if response.status_code < 400:
            commit()
        else:
            rollback()
        return response


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
    for callback in queue or ():
        try:
            callback()
            if session.in_transaction():
                session.commit()  # what a hook wrote (a plugin's own rows); its own events follow
        except Exception:
            session.rollback()
            log.exception("an after-commit event failed; the committed change stands")


@event.listens_for(Session, "after_soft_rollback")
def _drop_queued_events(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # a savepoint's rollback keeps the outer queue
        session.info.pop(PENDING, None)
        session.info.pop(WROTE, None)
