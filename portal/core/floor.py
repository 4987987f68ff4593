"""The floor of a class occurrence: raised hands and what the teacher lets students send.

A student raises or lowers their hand; the teacher (or an admin) sees the queue in the
order hands went up, grants a student the microphone, camera and/or screen, withdraws
it, mutes a student's microphone, lowers every hand. The state is one `floor_seats` row
per (occurrence, student), so every server process and a reloaded page see the same.

These functions flush; the unit of work's owner commits. The announcements leave only after
that commit (`unit_of_work.after_commit`): the live events (hand:raised, floor:granted, ...)
go to the panel sockets, and the `floor_changed` plugin hook lets the media backend enforce
the change (the bundled SFU closes a withdrawn student's streams and stops forwarding a
muted microphone).

A page reads the floor again after each push and its own actions, and those answers can come
back in another order: every change raises the occurrence's floor revision (`floor_states`),
which the state and the events carry, so the page keeps the newest. The revision row is
locked last in a change, after the seats, until the commit: changes of one occurrence's
floor (a few per minute) queue there, reads do not.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from portal.core import access, audit, live_state, unit_of_work
from portal.core.chat import is_manager, iso, require_panel_access
from portal.core.errors import NotFound, ValidationFailed
from portal.core.models import FloorSeat, FloorState, Meeting, Schedule, User
from portal.core.registry import hook
from portal.core.snapshots import meeting_record, schedule_info
from portal.core.types import utcnow
from portal.core.upsert import insert_with_conflicts
from portal.extensions import db
from portal.plugins.types import FloorGrant

KINDS = ("mic", "camera", "screen")


def grant_of(schedule_id: int, user_id: int) -> FloorGrant:
    """What the student may send now (nothing when they have no seat)."""
    return grants_of(schedule_id, [user_id])[user_id]


def grants_of(schedule_id: int, user_ids: Collection[int]) -> dict[int, FloorGrant]:
    """grant_of for several students of one occurrence, in one query: by user id, every
    one of them (nothing granted when they have no seat)."""
    wanted = set(user_ids)
    seats = (
        db.session.execute(
            db.select(FloorSeat).where(
                FloorSeat.schedule_id == schedule_id, FloorSeat.user_id.in_(sorted(wanted))
            )
        )
        .scalars()
        .all()
        if wanted
        else []
    )
    found = {seat.user_id: _grant(seat) for seat in seats}
    return {user_id: found.get(user_id, FloorGrant()) for user_id in wanted}


def _grant(seat: FloorSeat | None) -> FloorGrant:
    if seat is None:
        return FloorGrant()
    return FloorGrant(
        mic=seat.mic, camera=seat.camera, screen=seat.screen, mic_muted=seat.mic_muted
    )


def _seat(schedule_id: int, user_id: int) -> FloorSeat:
    """The student's seat, created if missing, locked for this transaction (two tabs or two
    teachers acting at once change it one after the other)."""
    db.session.execute(
        insert_with_conflicts(FloorSeat)
        .values(
            schedule_id=schedule_id,
            user_id=user_id,
            mic=False,
            camera=False,
            screen=False,
            mic_muted=False,
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "user_id"])
    )
    return db.session.execute(
        db.select(FloorSeat)
        .filter_by(schedule_id=schedule_id, user_id=user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _changed(schedule_id: int) -> int:
    """Raise the occurrence's floor revision (after its seats are locked, so that changes
    take their locks in one order) and return it: higher than any state read before."""
    return int(
        db.session.execute(
            insert_with_conflicts(FloorState)
            .values(schedule_id=schedule_id, revision=1)
            .on_conflict_do_update(
                index_elements=["schedule_id"], set_={"revision": FloorState.revision + 1}
            )
            .returning(FloorState.revision)
        ).scalar_one()
    )


def revision_of(schedule_id: int) -> int:
    """The occurrence's floor revision now (0 before its first change)."""
    return int(
        db.session.execute(
            db.select(FloorState.revision).filter_by(schedule_id=schedule_id)
        ).scalar_one_or_none()
        or 0
    )


def _managed(actor: User, schedule_id: int) -> Schedule:
    schedule = require_panel_access(actor, schedule_id)
    access.require_class_moderator(actor, schedule.klass)
    return schedule


def _student(schedule: Schedule, user_id: int) -> User:
    """A student who may hold the floor in this occurrence: enrolled and not blocked."""
    student = db.session.get(User, user_id)
    if (
        student is None
        or not student.is_active
        or not access.is_enrolled(student, schedule.class_id)
    ):
        raise NotFound("that person is not a student of this class", code="not_a_member")
    if access.active_block(student, schedule.class_id) is not None:
        raise ValidationFailed("that student is blocked from this class", code="blocked")
    return student


def _person(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name}


def seat_dict(seat: FloorSeat, user: User) -> dict[str, Any]:
    return {
        "user": _person(user),
        "hand_raised": seat.hand_raised_at is not None,
        "raised_at": iso(seat.hand_raised_at),
        **_grant(seat).as_dict(),
    }


def state(actor: User, schedule_id: int) -> dict[str, Any]:
    """The floor as the actor may see it: their own seat; for the teacher also the queue of
    raised hands (first raised first) and who holds the floor."""
    schedule = require_panel_access(actor, schedule_id)
    manager = is_manager(actor, schedule)
    # Read before the seats: the seats then hold at least every change up to it (a change
    # committed in between only makes the state newer than it claims, never older).
    revision = revision_of(schedule.id)
    rows = db.session.execute(
        db.select(FloorSeat, User)
        .join(User, User.id == FloorSeat.user_id)
        .where(FloorSeat.schedule_id == schedule.id)
        .order_by(FloorSeat.hand_raised_at, FloorSeat.id)
    ).all()
    queue = [(seat, user) for seat, user in rows if seat.hand_raised_at is not None]
    mine = next((seat for seat, user in rows if user.id == actor.id), None)
    position = next((n for n, (_s, user) in enumerate(queue, start=1) if user.id == actor.id), None)
    return {
        "schedule_id": schedule.id,
        "revision": revision,
        "manager": manager,
        "me": {
            "user_id": actor.id,
            "hand_raised": position is not None,
            "position": position,
            **_grant(mine).as_dict(),
        },
        "hands": [seat_dict(seat, user) for seat, user in queue] if manager else [],
        "granted": [seat_dict(seat, user) for seat, user in rows if _grant(seat).any]
        if manager
        else [],
    }


def raise_hand(actor: User, schedule_id: int) -> dict[str, Any]:
    schedule = require_panel_access(actor, schedule_id)
    if is_manager(actor, schedule):
        raise ValidationFailed("the teacher has the floor already", code="teacher_has_floor")
    seat = _seat(schedule.id, actor.id)
    changed = seat.hand_raised_at is None
    if changed:
        seat.hand_raised_at = utcnow()
        seat.updated_at, seat.updated_by = utcnow(), actor.id
    out = seat_dict(seat, actor)
    db.session.flush()
    if changed:
        payload = {"schedule_id": schedule.id, "revision": _changed(schedule.id), **out}
        _announce_hand(schedule.id, actor.id, "hand:raised", payload)
    return out


def lower_hand(actor: User, schedule_id: int, user_id: int | None = None) -> dict[str, Any]:
    """The student lowers their own hand; the teacher may lower anyone's."""
    schedule = require_panel_access(actor, schedule_id)
    target_id = actor.id if user_id is None else user_id
    if target_id != actor.id:
        access.require_class_moderator(actor, schedule.klass)
    target = db.session.get(User, target_id)
    if target is None:
        raise NotFound("that person is not a student of this class", code="not_a_member")
    seat = db.session.execute(
        db.select(FloorSeat).filter_by(schedule_id=schedule.id, user_id=target_id).with_for_update()
    ).scalar_one_or_none()
    changed = seat is not None and seat.hand_raised_at is not None
    if seat is not None and changed:
        seat.hand_raised_at = None
        seat.updated_at, seat.updated_by = utcnow(), actor.id
    out = (
        seat_dict(seat, target)
        if seat is not None
        else {
            "user": _person(target),
            "hand_raised": False,
            "raised_at": None,
            **FloorGrant().as_dict(),
        }
    )
    db.session.flush()
    if changed:
        revision = _changed(schedule.id)
        _announce_hand(
            schedule.id,
            target_id,
            "hand:lowered",
            {"schedule_id": schedule.id, "revision": revision, "by": actor.id, **out},
        )
    return out


def lower_all(actor: User, schedule_id: int) -> list[int]:
    """Lower every raised hand of the occurrence (teacher); returns whose hands went down."""
    schedule = _managed(actor, schedule_id)
    seats = list(
        db.session.execute(
            db.select(FloorSeat)
            .where(FloorSeat.schedule_id == schedule.id, FloorSeat.hand_raised_at.is_not(None))
            .with_for_update()
        ).scalars()
    )
    now = utcnow()
    for seat in seats:
        seat.hand_raised_at = None
        seat.updated_at, seat.updated_by = now, actor.id
    lowered = [seat.user_id for seat in seats]
    db.session.flush()
    if lowered:
        revision = _changed(schedule.id)
        live_state.publish(
            "hands:lowered",
            {
                "schedule_id": schedule.id,
                "revision": revision,
                "user_ids": lowered,
                "by": actor.id,
            },
            schedule_id=schedule.id,
            audience="room",
        )
    return lowered


def _kinds(
    mic: bool | None, camera: bool | None, screen: bool | None, *, default_all: bool
) -> dict[str, bool]:
    chosen: dict[str, bool] = {
        k: v for k, v in {"mic": mic, "camera": camera, "screen": screen}.items() if v
    }
    if not chosen:
        if not default_all:
            raise ValidationFailed(
                "say what to grant: mic, camera and/or screen", code="nothing_to_grant"
            )
        chosen = dict.fromkeys(KINDS, True)
    return chosen


def grant(
    actor: User,
    schedule_id: int,
    user_id: int,
    *,
    mic: bool | None = None,
    camera: bool | None = None,
    screen: bool | None = None,
) -> dict[str, Any]:
    """Give a student the microphone, camera and/or screen (added to what they have). Their
    raised hand is answered, so it goes down; granting the microphone again unmutes it."""
    schedule = _managed(actor, schedule_id)
    student = _student(schedule, user_id)
    kinds = _kinds(mic, camera, screen, default_all=False)
    seat = _seat(schedule.id, student.id)
    for kind in kinds:
        setattr(seat, kind, True)
    if "mic" in kinds:
        seat.mic_muted = False
    seat.hand_raised_at = None
    seat.updated_at, seat.updated_by = utcnow(), actor.id
    audit.record(
        actor, "floor.grant", "user", student.id, schedule_id=schedule.id, kinds=sorted(kinds)
    )
    return _announce_change(schedule, seat, student, "floor:granted", actor)


def withdraw(
    actor: User,
    schedule_id: int,
    user_id: int,
    *,
    mic: bool | None = None,
    camera: bool | None = None,
    screen: bool | None = None,
) -> dict[str, Any]:
    """Take back what was granted (everything when nothing is named)."""
    schedule = _managed(actor, schedule_id)
    student = db.session.get(User, user_id)
    if student is None or not access.is_enrolled(student, schedule.class_id):
        raise NotFound("that person is not a student of this class", code="not_a_member")
    kinds = _kinds(mic, camera, screen, default_all=True)
    seat = _seat(schedule.id, student.id)
    for kind in kinds:
        setattr(seat, kind, False)
    if not seat.mic:
        seat.mic_muted = False
    seat.updated_at, seat.updated_by = utcnow(), actor.id
    audit.record(
        actor, "floor.withdraw", "user", student.id, schedule_id=schedule.id, kinds=sorted(kinds)
    )
    return _announce_change(schedule, seat, student, "floor:withdrawn", actor)


def mute(actor: User, schedule_id: int, user_id: int) -> dict[str, Any]:
    """Mute a student's microphone: the media backend forwards none of its audio until the
    teacher grants the microphone again."""
    schedule = _managed(actor, schedule_id)
    student = db.session.get(User, user_id)
    if student is None or not access.is_enrolled(student, schedule.class_id):
        raise NotFound("that person is not a student of this class", code="not_a_member")
    seat = _seat(schedule.id, student.id)
    seat.mic_muted = True
    seat.updated_at, seat.updated_by = utcnow(), actor.id
    audit.record(actor, "floor.mute", "user", student.id, schedule_id=schedule.id)
    return _announce_change(schedule, seat, student, "floor:muted", actor)


def _announce_change(
    schedule: Schedule, seat: FloorSeat, student: User, event: str, actor: User
) -> dict[str, Any]:
    db.session.flush()
    out = seat_dict(seat, student)
    floor = _grant(seat)
    meeting = db.session.execute(
        db.select(Meeting).filter_by(schedule_id=schedule.id)
    ).scalar_one_or_none()
    # Snapshots taken now: the hook runs after the commit, when the rows are expired.
    changed = {
        "schedule": schedule_info(schedule),
        "meeting": meeting_record(meeting) if meeting else None,
        "user_id": student.id,
        "floor": floor,
    }
    # The media backend first (queued first): a withdrawn stream is cut off before anyone
    # is told it was.
    unit_of_work.after_commit(lambda: hook().floor_changed(**changed))
    revision = _changed(schedule.id)
    live_state.publish(
        event,
        {"schedule_id": schedule.id, "revision": revision, "by": actor.id, **out},
        schedule_id=schedule.id,
        audience="room",
    )
    return out


def _announce_hand(schedule_id: int, user_id: int, event: str, payload: dict[str, Any]) -> None:
    # The queue is the teacher's to see; the student's own other tabs follow too.
    live_state.publish(event, payload, schedule_id=schedule_id, audience="managers")
    live_state.publish(event, payload, schedule_id=schedule_id, audience="user", user_id=user_id)
