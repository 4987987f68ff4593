"""The waiting room of a class occurrence: with the class's waiting room on, a student who
joins waits until one of the class's teachers or assistants admits (or refuses) them.

The portal's lobby gates the join target on every backend, so it works where the backend
has no lobby of its own. Teachers' room pages learn who waits from `lobby:*` events
(audience "managers"); the waiting person's page from `lobby:admitted` / `lobby:refused`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core import access, audit, classes, invites, live_state
from portal.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.core.models import Class, Guest, LobbyEntry, Schedule, User
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

WAITING, ADMITTED, REFUSED = "waiting", "admitted", "refused"
MAX_MESSAGE = 500


def waiting_room_on(klass: Class) -> bool:
    """The class's choice (new classes start with settings.waiting_room_default())."""
    return bool(klass.waiting_room)


def entry_dict(entry: LobbyEntry) -> dict[str, Any]:
    return {
        "guest_id": None,
        "user_id": entry.user_id,
        "name": entry.user.name,
        "status": entry.status,
        "message": _refusal(entry) if entry.status == REFUSED else "",
        "requested_at": entry.requested_at.isoformat(),
    }


def check_admitted(actor: User, schedule: Schedule) -> None:
    """Called by the join: raise unless the actor may enter now.

    Teachers and assistants never wait; others wait while the waiting room is on and no
    teacher admitted them (409 `waiting_room`), or learn the refusal (403 `refused`)."""
    klass = schedule.klass
    if not waiting_room_on(klass) or access.can_moderate_class(actor, klass):
        return
    entry = _entry(schedule.id, actor.id)
    require_admitted_entry(
        entry.status if entry else None, entry.message if entry else None, waits=True
    )


def entry_columns(schedule_id: Any, user_id: Any) -> list[Any]:
    """The person's lobby entry (status, refusal message) as two columns of a bigger query,
    for `require_admitted_entry` (the join reads everything it checks in one query)."""
    entries = LobbyEntry.__table__.c
    entry = select(entries.status).where(
        entries.schedule_id == schedule_id, entries.user_id == user_id
    )
    return [
        entry.scalar_subquery().label("lobby_status"),
        entry.with_only_columns(entries.message).scalar_subquery().label("lobby_message"),
    ]


def require_admitted_entry(status: str | None, message: str | None, *, waits: bool) -> None:
    """The rule of check_admitted on a read entry: `waits` is False for the class's staff
    and for classes without a waiting room."""
    if not waits or status == ADMITTED:
        return
    if status == REFUSED:
        raise Forbidden(_refusal_text(message), code="refused")
    raise Conflict(
        "this class has a waiting room: ask to enter and the teacher will let you in",
        code="waiting_room",
    )


def knock(actor: User, schedule_id: int) -> LobbyEntry:
    """A student asks to enter: they wait until a teacher decides (asking twice is one ask).

    A refusal stands for this occurrence: asking again answers it again."""
    schedule = classes.get_schedule_for(actor, schedule_id)
    klass = schedule.klass
    access.require_not_blocked(actor, klass.id)
    if access.can_moderate_class(actor, klass):
        raise ValidationFailed("the class's teachers never wait", code="no_waiting_for_staff")
    if not waiting_room_on(klass):
        raise Conflict("this class has no waiting room: join it", code="no_waiting_room")
    entry = _entry(schedule.id, actor.id)
    if entry is None:
        entry = LobbyEntry(schedule_id=schedule.id, user_id=actor.id, status=WAITING)
        db.session.add(entry)
        try:
            with db.session.begin_nested():
                db.session.flush()
        except IntegrityError:  # the same person asked twice at once: one entry
            entry = _entry(schedule.id, actor.id)
            assert entry is not None
            return entry
        live_state.publish(
            "lobby:waiting", entry_dict(entry), schedule_id=schedule.id, audience="managers"
        )
    return entry


def _entry(schedule_id: int, user_id: int) -> LobbyEntry | None:
    return db.session.execute(
        select(LobbyEntry).filter_by(schedule_id=schedule_id, user_id=user_id)
    ).scalar_one_or_none()


def _refusal(entry: LobbyEntry) -> str:
    return _refusal_text(entry.message)


def _refusal_text(message: str | None) -> str:
    return "the teacher did not let you in" + (f": {message}" if message else "")


def _moderated(actor: User, schedule_id: int) -> Schedule:
    schedule = classes.get_schedule_for(actor, schedule_id)
    access.require_class_moderator(actor, schedule.klass)
    return schedule


def list_waiting(actor: User, schedule_id: int) -> list[LobbyEntry]:
    schedule = _moderated(actor, schedule_id)
    return list(
        db.session.execute(
            select(LobbyEntry)
            .filter_by(schedule_id=schedule.id, status=WAITING)
            .order_by(LobbyEntry.requested_at, LobbyEntry.id)
        ).scalars()
    )


def waiting_dicts(actor: User, schedule_id: int) -> list[dict[str, Any]]:
    """Everyone waiting, students and guests, first come first."""
    rows = [entry_dict(e) for e in list_waiting(actor, schedule_id)]
    rows += [invites.guest_dict(g) for g in invites.waiting_guests(schedule_id)]
    return sorted(rows, key=lambda row: row["requested_at"])


def admit(
    actor: User,
    schedule_id: int,
    user_ids: list[int] | None = None,
    guest_ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Let these waiting people in (everyone waiting, guests too, when both lists are None)."""
    schedule = _moderated(actor, schedule_id)
    everyone = user_ids is None and guest_ids is None
    entries: list[LobbyEntry] = []
    if everyone or user_ids:
        stmt = select(LobbyEntry).filter_by(schedule_id=schedule.id, status=WAITING)
        if user_ids is not None:
            stmt = stmt.where(LobbyEntry.user_id.in_(user_ids))
        entries = list(db.session.execute(stmt.with_for_update(of=LobbyEntry)).scalars())
        if user_ids is not None and len(entries) != len(set(user_ids)):
            raise NotFound("that person is not waiting in this class", code="not_waiting")
    guests: list[Guest] = []
    if everyone or guest_ids:
        guests = invites.waiting_guests(schedule.id)
        if guest_ids is not None:
            guests = [g for g in guests if g.id in set(guest_ids)]
            if len(guests) != len(set(guest_ids)):
                raise NotFound("that guest is not waiting in this class", code="not_waiting")
    for entry in entries:
        _decide(actor, schedule, entry, ADMITTED, "")
    invites.decide(actor, schedule, guests, ADMITTED)
    return [entry_dict(e) for e in entries] + [invites.guest_dict(g) for g in guests]


def refuse_guest(actor: User, schedule_id: int, guest_id: int, message: str = "") -> Guest:
    """Turn a waiting guest away; their page shows the message."""
    text = _message(message)
    schedule = _moderated(actor, schedule_id)
    guest = next((g for g in invites.waiting_guests(schedule.id) if g.id == guest_id), None)
    if guest is None:
        raise NotFound("that guest is not waiting in this class", code="not_waiting")
    invites.decide(actor, schedule, [guest], REFUSED, text)
    return guest


def _message(message: str) -> str:
    text = (message or "").strip()
    if len(text) > MAX_MESSAGE:
        raise ValidationFailed(
            gettext("the message may have at most %(count)s characters", count=MAX_MESSAGE)
        )
    return text


def refuse(actor: User, schedule_id: int, user_id: int, message: str = "") -> LobbyEntry:
    """Turn a waiting person away; their page shows the message."""
    text = _message(message)
    schedule = _moderated(actor, schedule_id)
    entry = db.session.execute(
        select(LobbyEntry)
        .filter_by(schedule_id=schedule.id, user_id=user_id, status=WAITING)
        .with_for_update(of=LobbyEntry)
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound("that person is not waiting in this class", code="not_waiting")
    _decide(actor, schedule, entry, REFUSED, text)
    return entry


def _decide(actor: User, schedule: Schedule, entry: LobbyEntry, status: str, text: str) -> None:
    entry.status, entry.message = status, text
    entry.decided_at, entry.decided_by = utcnow(), actor.id
    audit.record(actor, f"lobby.{status[:-1]}", "schedule", schedule.id, user_id=entry.user_id)
    payload = {"schedule_id": schedule.id, **entry_dict(entry)}
    live_state.publish(f"lobby:{status}", payload, schedule_id=schedule.id, audience="managers")
    live_state.publish(
        f"lobby:{status}", payload, schedule_id=schedule.id, audience="user", user_id=entry.user_id
    )
