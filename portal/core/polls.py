"""Polls of a class occurrence: draft -> open -> closed, results published on demand.

A student's ballot is the set of poll_votes rows (poll, user, option). Voting again
replaces the ballot in one transaction; the unique (poll, user, option) constraint and a
row lock on the voter keep a ballot whole even when two votes of the same user race.
Counts go live to the class's teacher after every vote, and to everyone once the teacher
publishes the results.

Pages receive a poll from the join ack, pushes and refreshes in any order and keep the
newest: a poll's `revision` grows with each change the teacher makes (open, close, publish,
hide; taken under the poll's row lock those changes hold anyway), and its results also carry
`vote_seq`, the highest ballot row id counted. Votes do not raise the revision: that would
make every vote lock the poll row and wait for the others, where they now take a shared lock
and run side by side. A ballot is never withdrawn, only replaced by rows with new (higher)
ids, so counts read later never carry a lower `vote_seq` (an equal one when ballots commit
at the same moment: pages take it).

These functions flush; the unit of work's owner commits, and the announcements
(`live_state.publish`) leave only after that commit.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from portal.core import access, audit, live_state
from portal.core.chat import is_manager, iso, require_panel_access
from portal.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.core.models import Poll, PollOption, PollVote, Schedule, User
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_QUESTION, MAX_OPTION = 500, 200


def _poll_for(actor: User, poll_id: int, *, lock: str | None = None) -> tuple[Poll, Schedule]:
    stmt = db.select(Poll).where(Poll.id == poll_id)
    if lock == "share":
        stmt = stmt.with_for_update(read=True)
    elif lock == "update":
        stmt = stmt.with_for_update()
    poll = db.session.execute(stmt).scalar_one_or_none()
    if poll is None:
        raise NotFound("no such poll")
    try:
        schedule = require_panel_access(actor, poll.schedule_id)
    except NotFound:
        raise NotFound("no such poll") from None
    if poll.status == "draft" and not is_manager(actor, schedule):
        raise NotFound("no such poll")  # drafts are the teacher's business
    return poll, schedule


def _managed_poll(actor: User, poll_id: int) -> tuple[Poll, Schedule]:
    poll, schedule = _poll_for(actor, poll_id, lock="update")
    access.require_class_moderator(actor, schedule.klass)
    return poll, schedule


def _changed(poll: Poll) -> None:
    """Every change of a poll by the teacher goes through here, under the poll's row lock:
    what it answers and announces is newer than any view of the poll read before it."""
    poll.revision = (poll.revision or 1) + 1


def public_dict(poll: Poll) -> dict[str, Any]:
    """What every participant may see of a poll (never who voted)."""
    return {
        "id": poll.id,
        "schedule_id": poll.schedule_id,
        "question": poll.question,
        "options": [{"id": o.id, "text": o.text, "position": o.position} for o in poll.options],
        "multiple_choice": poll.multiple_choice,
        "anonymous": poll.anonymous,
        "status": poll.status,
        "results_published": poll.results_published,
        "opened_at": iso(poll.opened_at),
        "closed_at": iso(poll.closed_at),
        "revision": poll.revision,
    }


def results(poll: Poll, *, with_voters: bool = False) -> dict[str, Any]:
    """Counts per option; with_voters adds names per option unless the poll is anonymous."""
    counts = dict(
        db.session.execute(
            db.select(PollVote.option_id, db.func.count(PollVote.id))
            .where(PollVote.poll_id == poll.id)
            .group_by(PollVote.option_id)
        ).all()
    )
    voters, vote_seq = db.session.execute(
        db.select(
            db.func.count(db.distinct(PollVote.user_id)),
            db.func.coalesce(db.func.max(PollVote.id), 0),
        ).where(PollVote.poll_id == poll.id)
    ).one()
    names: dict[int, list[dict[str, Any]]] = {}
    if with_voters and not poll.anonymous:
        for option_id, user_id, name in db.session.execute(
            db.select(PollVote.option_id, User.id, User.name)
            .join(User, User.id == PollVote.user_id)
            .where(PollVote.poll_id == poll.id)
            .order_by(User.name)
        ).all():
            names.setdefault(option_id, []).append({"id": user_id, "name": name})
    options = []
    for option in poll.options:
        row: dict[str, Any] = {
            "option_id": option.id,
            "text": option.text,
            "votes": counts.get(option.id, 0),
        }
        if with_voters and not poll.anonymous:
            row["voters"] = names.get(option.id, [])
        options.append(row)
    return {
        "poll_id": poll.id,
        "schedule_id": poll.schedule_id,
        "status": poll.status,
        "results_published": poll.results_published,
        # Pages order results by (revision, vote_seq): see the module's docstring.
        "revision": poll.revision,
        "vote_seq": vote_seq,
        "voters": voters,
        "options": options,
    }


def my_vote(poll: Poll, user: User) -> list[int]:
    return sorted(
        db.session.execute(
            db.select(PollVote.option_id).filter_by(poll_id=poll.id, user_id=user.id)
        ).scalars()
    )


def view(actor: User, poll: Poll, schedule: Schedule) -> dict[str, Any]:
    """The poll as this actor may see it: results for the teacher, or once published."""
    return _seen(
        poll,
        is_manager(actor, schedule),
        lambda p: my_vote(p, actor),
        lambda p, manager: results(p, with_voters=manager),
    )


def _seen(
    poll: Poll,
    manager: bool,
    ballot_of: Callable[[Poll], list[int]],
    results_of: Callable[[Poll, bool], dict[str, Any]],
) -> dict[str, Any]:
    """view's rule, with the actor's ballot and the results read by the caller's readers."""
    out = public_dict(poll)
    out["my_vote"] = [] if manager else ballot_of(poll)
    if manager or poll.results_published:
        out["results"] = results_of(poll, manager)
    return out


def _announce_results(poll: Poll) -> None:
    live_state.publish(
        "poll:results",
        results(poll, with_voters=True),
        schedule_id=poll.schedule_id,
        audience="managers",
    )
    if poll.results_published:
        live_state.publish("poll:results", results(poll), schedule_id=poll.schedule_id)


def create_poll(
    actor: User,
    schedule_id: int,
    *,
    question: str,
    options: list[str],
    multiple_choice: bool = False,
    anonymous: bool = False,
) -> dict[str, Any]:
    schedule = require_panel_access(actor, schedule_id)
    access.require_class_moderator(actor, schedule.klass)
    question = (question or "").strip()
    if not question or len(question) > MAX_QUESTION:
        raise ValidationFailed(
            gettext("the question must have 1 to %(count)s characters", count=MAX_QUESTION)
        )
    texts = [(o or "").strip() for o in options]
    if not MIN_OPTIONS <= len(texts) <= MAX_OPTIONS:
        raise ValidationFailed(
            gettext("a poll has %(low)s to %(high)s options", low=MIN_OPTIONS, high=MAX_OPTIONS),
            code="option_count",
        )
    if any(not t or len(t) > MAX_OPTION for t in texts):
        raise ValidationFailed(
            gettext("every option needs 1 to %(count)s characters", count=MAX_OPTION)
        )
    if len({t.casefold() for t in texts}) != len(texts):
        raise ValidationFailed("two options have the same text", code="duplicate_option")
    poll = Poll(
        schedule_id=schedule.id,
        created_by=actor.id,
        question=question,
        multiple_choice=bool(multiple_choice),
        anonymous=bool(anonymous),
        options=[PollOption(position=i, text=t) for i, t in enumerate(texts)],
    )
    db.session.add(poll)
    db.session.flush()
    audit.record(actor, "poll.create", "poll", poll.id, schedule_id=schedule.id)
    out = view(actor, poll, schedule)
    live_state.publish(
        "poll:created", public_dict(poll), schedule_id=schedule.id, audience="managers"
    )
    return out


def open_poll(actor: User, poll_id: int) -> dict[str, Any]:
    poll, schedule = _managed_poll(actor, poll_id)
    if poll.status != "draft":
        raise Conflict(
            gettext("the poll is already %(status)s", status=poll.status),
            code=f"poll_{poll.status}",
        )
    poll.status = "open"
    poll.opened_at = utcnow()
    _changed(poll)
    audit.record(actor, "poll.open", "poll", poll.id)
    db.session.flush()
    live_state.publish("poll:opened", public_dict(poll), schedule_id=schedule.id)
    return view(actor, poll, schedule)


def close_poll(actor: User, poll_id: int) -> dict[str, Any]:
    poll, schedule = _managed_poll(actor, poll_id)
    if poll.status != "open":
        raise Conflict("only an open poll can be closed", code=f"poll_{poll.status}")
    poll.status = "closed"
    poll.closed_at = utcnow()
    _changed(poll)
    audit.record(actor, "poll.close", "poll", poll.id)
    db.session.flush()
    live_state.publish("poll:closed", public_dict(poll), schedule_id=schedule.id)
    return view(actor, poll, schedule)


def publish_results(actor: User, poll_id: int, published: bool = True) -> dict[str, Any]:
    poll, schedule = _managed_poll(actor, poll_id)
    if poll.status == "draft":
        raise Conflict("open the poll before publishing its results", code="poll_draft")
    poll.results_published = bool(published)
    _changed(poll)
    audit.record(actor, "poll.publish" if published else "poll.unpublish", "poll", poll.id)
    db.session.flush()
    if published:
        live_state.publish("poll:results", results(poll), schedule_id=schedule.id)
    else:
        live_state.publish(
            "poll:unpublished",
            {"poll_id": poll.id, "schedule_id": schedule.id, "revision": poll.revision},
            schedule_id=schedule.id,
        )
    return view(actor, poll, schedule)


def vote(actor: User, poll_id: int, option_ids: list[int]) -> dict[str, Any]:
    # Shared lock on the poll: a concurrent close (FOR UPDATE) waits for this ballot, or
    # this ballot sees the poll closed; no vote lands after the close (PostgreSQL).
    poll, schedule = _poll_for(actor, poll_id, lock="share")
    if is_manager(actor, schedule) or not access.is_enrolled(actor, schedule.class_id):
        raise Forbidden("only the class's students vote", code="not_a_voter")
    if poll.status != "open":
        if poll.status == "closed":
            raise Conflict(gettext("this poll is closed"), code="poll_closed")
        raise Conflict(gettext("this poll is not open yet"), code="poll_not_open")
    chosen = list(dict.fromkeys(int(i) for i in option_ids))
    valid = {o.id for o in poll.options}
    if not chosen or any(i not in valid for i in chosen):
        raise ValidationFailed("choose options of this poll", code="invalid_option")
    if not poll.multiple_choice and len(chosen) != 1:
        raise ValidationFailed("this poll takes exactly one choice", code="single_choice")
    # Lock the voter's row so two ballots of one user apply one after the other (NO KEY
    # UPDATE: does not hold up inserts elsewhere that merely reference the user).
    db.session.execute(
        db.select(User.id).where(User.id == actor.id).with_for_update(key_share=True)
    )
    db.session.execute(
        db.delete(PollVote).where(PollVote.poll_id == poll.id, PollVote.user_id == actor.id)
    )
    db.session.add_all([PollVote(poll_id=poll.id, option_id=i, user_id=actor.id) for i in chosen])
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(
            "your previous vote was still being saved; vote again", code="vote_conflict"
        ) from None
    _announce_results(poll)
    return {"poll_id": poll.id, "my_vote": sorted(chosen)}


def list_polls(actor: User, schedule_id: int) -> list[dict[str, Any]]:
    """The occurrence's polls as the actor may see them (drafts only for its moderators)."""
    schedule = require_panel_access(actor, schedule_id)
    return polls_for(schedule, [(actor, is_manager(actor, schedule))])[0]


def polls_for(
    schedule: Schedule, viewers: Sequence[tuple[User, bool]]
) -> list[list[dict[str, Any]]]:
    """list_polls for many actors already let into the occurrence's panel, each with whether
    they moderate it (chat.require_panel_standing): the polls, the ballots of them all and
    each poll's results read once, however many actors (the room joins of a class-start
    rush). One list per viewer, in order."""
    found = list(
        db.session.execute(
            db.select(Poll).where(Poll.schedule_id == schedule.id).order_by(Poll.id)
        ).scalars()
    )
    if not found:
        return [[] for _ in viewers]
    voters = sorted({actor.id for actor, manager in viewers if not manager})
    ballots: dict[tuple[int, int], list[int]] = {}
    if voters:
        for poll_id, user_id, option_id in db.session.execute(
            db.select(PollVote.poll_id, PollVote.user_id, PollVote.option_id)
            .where(PollVote.poll_id.in_([p.id for p in found]), PollVote.user_id.in_(voters))
            .order_by(PollVote.option_id)
        ).all():
            ballots.setdefault((poll_id, user_id), []).append(option_id)
    counted: dict[tuple[int, bool], dict[str, Any]] = {}

    def results_of(poll: Poll, manager: bool) -> dict[str, Any]:
        if (poll.id, manager) not in counted:
            counted[poll.id, manager] = results(poll, with_voters=manager)
        return counted[poll.id, manager]

    def ballot_reader(user_id: int) -> Callable[[Poll], list[int]]:
        return lambda poll: list(ballots.get((poll.id, user_id), []))

    return [
        [
            _seen(poll, manager, ballot_reader(actor.id), results_of)
            for poll in found
            if manager or poll.status != "draft"
        ]
        for actor, manager in viewers
    ]


def get_results(actor: User, poll_id: int) -> dict[str, Any]:
    poll, schedule = _poll_for(actor, poll_id)
    manager = is_manager(actor, schedule)
    if not manager and not poll.results_published:
        raise Forbidden("the teacher has not published the results yet", code="results_hidden")
    return results(poll, with_voters=manager)


def export(
    actor: User, schedule_id: int, fmt: str, poll_id: int | None = None
) -> tuple[str, str, str]:
    """All polls of an occurrence (or one) with their results, as (content, mimetype, filename).
    Teachers only: it carries voter names for non-anonymous polls."""
    schedule = require_panel_access(actor, schedule_id)
    access.require_class_moderator(actor, schedule.klass)
    stmt = db.select(Poll).where(Poll.schedule_id == schedule.id).order_by(Poll.id)
    if poll_id is not None:
        stmt = stmt.where(Poll.id == poll_id)
    polls = list(db.session.execute(stmt).scalars())
    if poll_id is not None and not polls:
        raise NotFound("no such poll")
    rows = [(poll, results(poll, with_voters=True)) for poll in polls]
    stem = f"polls-schedule-{schedule.id}" + (f"-poll-{poll_id}" if poll_id else "")
    if fmt == "json":
        data = [{**public_dict(poll), "results": res} for poll, res in rows]
        return (
            json.dumps(
                {"schedule_id": schedule.id, "class": schedule.klass.title, "polls": data}, indent=2
            ),
            "application/json",
            f"{stem}.json",
        )
    if fmt != "csv":
        raise ValidationFailed("format must be csv or json")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "poll_id",
            "question",
            "status",
            "anonymous",
            "multiple_choice",
            "option",
            "votes",
            "voters",
        ]
    )
    for poll, res in rows:
        for option in res["options"]:
            voters = (
                "" if poll.anonymous else "; ".join(v["name"] for v in option.get("voters", []))
            )
            writer.writerow(
                [
                    poll.id,
                    _csv_safe(poll.question),
                    poll.status,
                    poll.anonymous,
                    poll.multiple_choice,
                    _csv_safe(option["text"]),
                    option["votes"],
                    _csv_safe(voters),
                ]
            )
    return buffer.getvalue(), "text/csv", f"{stem}.csv"


def _csv_safe(text: str) -> str:
    # Spreadsheets execute cells starting with these characters as formulas.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
