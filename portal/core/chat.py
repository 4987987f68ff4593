"""Class chat: messages of one class occurrence, moderation (delete, mute) and history.

These functions flush; the unit of work's owner (the socket event, the REST view) commits.
A message is announced only after that commit (`live_state.publish` queues it), so whatever
a client sees is already kept; the room's lock is taken before the row is stored and held
until the transaction ends, so every client (on every server process) receives a room's
messages in id order.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal.core import access, audit, classes, invites, live_state, room_settings
from portal.core.errors import Forbidden, NotFound, PortalError, ValidationFailed
from portal.core.models import (
    BlockedUser,
    ChatMessage,
    Class,
    ClassMute,
    Guest,
    Role,
    Schedule,
    User,
)
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import _, gettext

DEFAULT_MAX_LENGTH = 2000
DEFAULT_RATE_LIMIT = "10 per 10 seconds"
MAX_PAGE = 200


class RateLimited(PortalError):
    status = 429
    code = "rate_limited"


def max_length() -> int:
    return int(current_app.config.get("CHAT_MAX_LENGTH") or DEFAULT_MAX_LENGTH)


def rate_limit() -> str:
    return str(current_app.config.get("CHAT_RATE_LIMIT") or DEFAULT_RATE_LIMIT)


def require_panel_access(actor: User, schedule_id: int) -> Schedule:
    """The occurrence if the actor may be in its live panel: its teacher, an admin, or an
    enrolled student who is not blocked (site-wide or from this class). The rule is
    require_panel_standing's, on a standing read for this one actor."""
    schedule, standings = panel_standings(schedule_id, [actor])
    require_panel_standing(actor, schedule, standings.get(actor.id))
    assert schedule is not None  # require_panel_standing refused a missing occurrence
    return schedule


def _require_active(actor: User) -> None:
    if not actor.is_active:
        raise Forbidden("this account is disabled")


def panel_standings(
    schedule_id: int, actors: Sequence[User]
) -> tuple[Schedule | None, dict[int, access.Standing]]:
    """What the panel's rule reads, for many actors of one occurrence at once (the room
    joins of a class-start rush): the occurrence, and each actor's standing in its class
    (staff role, enrolment, block) in one query for them all. Each actor is then let in or
    refused by `require_panel_standing`."""
    schedule = db.session.get(Schedule, schedule_id)
    ids = sorted({actor.id for actor in actors})
    if schedule is None or not ids:
        return schedule, {}
    klass = schedule.klass
    statement = _standings_statement(
        staff_possible=any(actor.role != Role.STUDENT.value for actor in actors)
    )
    params = {"class_id": klass.id, "teacher_id": klass.teacher_id, "ids": ids, "now": utcnow()}
    rows = db.session.execute(statement, params).all()
    return schedule, {row.id: access.standing_of(row[-4:]) for row in rows}


@functools.lru_cache(maxsize=2)
def _standings_statement(*, staff_possible: bool) -> Any:
    """panel_standings's query, built once (Core columns, bind parameters): building and
    cache-keying the standing subqueries cost more CPU than running them."""
    users = User.__table__.c
    return db.select(
        users.id,
        *access.standing_columns(
            users.id,
            staff_possible=staff_possible,
            class_id=db.bindparam("class_id", type_=db.Integer),
            teacher_id=db.bindparam("teacher_id", type_=db.Integer),
            now=db.bindparam("now", type_=BlockedUser.__table__.c.expires_at.type),
        ),
    ).where(users.id.in_(db.bindparam("ids", expanding=True)))


def require_panel_standing(
    actor: User, schedule: Schedule | None, standing: access.Standing | None
) -> bool:
    """The panel's rule (who may be in an occurrence's live panel) on a standing read by
    panel_standings: raises the refusal; True if the actor moderates the panel (is_manager)."""
    _require_active(actor)
    if schedule is None or standing is None:
        raise NotFound("no such class occurrence")
    access.require_member(actor, standing)
    access.raise_blocked(standing.block_scope, standing.block_reason)
    return access.moderates(actor, standing.staff_role)


def is_manager(actor: User, schedule: Schedule) -> bool:
    """Moderates the room's panel (chat, polls, floor): teachers, assistants, admins."""
    return access.can_moderate_class(actor, schedule.klass)


def is_muted(user_id: int, class_id: int) -> bool:
    return (
        db.session.execute(
            db.select(ClassMute.id).filter_by(class_id=class_id, user_id=user_id)
        ).first()
        is not None
    )


def muted_among(class_id: int, user_ids: Collection[int]) -> set[int]:
    """Which of these users are muted in the class (is_muted for many, one query)."""
    if not user_ids:
        return set()
    return set(
        db.session.execute(
            db.select(ClassMute.user_id).where(
                ClassMute.class_id == class_id, ClassMute.user_id.in_(sorted(set(user_ids)))
            )
        ).scalars()
    )


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def message_dict(
    message: ChatMessage, author: User | None, guest: Guest | None = None
) -> dict[str, Any]:
    return {
        "id": message.id,
        "schedule_id": message.schedule_id,
        "user": _author(author, guest),
        "body": message.body,
        "created_at": iso(message.created_at),
    }


def _author(author: User | None, guest: Guest | None) -> dict[str, Any] | None:
    if author is not None:
        return {"id": author.id, "name": author.name, "role": author.role}
    if guest is not None:  # a guest has no user id: the name says they are one
        return {"id": None, "name": invites.guest_label(guest.name), "role": "guest"}
    return None


def _checked_text(body: str) -> str:
    text = (body or "").strip()
    if not text:
        raise ValidationFailed("the message is empty", code="empty_message")
    limit = max_length()
    if len(text) > limit:
        raise ValidationFailed(
            gettext("messages are limited to %(count)s characters", count=limit), code="too_long"
        )
    return text


def post_message(actor: User, schedule_id: int, body: str) -> dict[str, Any]:
    schedule = require_panel_access(actor, schedule_id)
    text = _checked_text(body)
    if not is_manager(actor, schedule) and not room_settings.for_class(schedule.klass).chat:
        raise Forbidden("the teacher turned chat off for this class", code="chat_off")
    if not is_manager(actor, schedule) and is_muted(actor.id, schedule.class_id):
        raise Forbidden("the teacher has muted you in this class's chat", code="muted")
    if not live_state.allow("chat", actor.id, rate_limit()):
        raise RateLimited("you are sending messages too fast; wait a moment")
    return _store(schedule.id, text, _author(actor, None), user_id=actor.id)


def post_guest_message(guest: Guest, schedule_id: int, body: str) -> dict[str, Any]:
    """An admitted guest writes in the class chat (the same rules as a student's)."""
    schedule = invites.require_admitted(guest, schedule_id)
    if guest.link.viewer_only:
        raise Forbidden(
            _("your invite link is for watching and listening: you can read the chat, not write"),
            code="viewer_only",
        )
    text = _checked_text(body)
    if not room_settings.for_class(schedule.klass).chat:
        raise Forbidden("the teacher turned chat off for this class", code="chat_off")
    # Guests' rate-limit keys are negative: they never share a user's bucket.
    if not live_state.allow("chat", -guest.id, rate_limit()):
        raise RateLimited("you are sending messages too fast; wait a moment")
    return _store(schedule.id, text, _author(None, guest), guest_id=guest.id)


def _store(
    schedule_id: int,
    text: str,
    author: dict[str, Any] | None,
    *,
    user_id: int | None = None,
    guest_id: int | None = None,
) -> dict[str, Any]:
    live_state.hold_room_lock(schedule_id)
    now = utcnow()
    message = ChatMessage(
        schedule_id=schedule_id, user_id=user_id, guest_id=guest_id, body=text, created_at=now
    )
    db.session.add(message)
    db.session.flush()
    # Read everything before the commit expires it: no reload query while holding the lock.
    payload = {
        "id": message.id,
        "schedule_id": schedule_id,
        "user": author,
        "body": text,
        "created_at": iso(now),
    }
    live_state.publish("chat:message", payload, schedule_id=schedule_id)
    return payload


def history(
    actor: User,
    schedule_id: int,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], bool]:
    """One page of the occurrence's chat, oldest first: the newest page ending just before
    `before_id`, or with `after_id` (a client resyncing after a reconnect) the oldest page
    of what came after the last message it saw. has_more: there is a further page that way."""
    schedule = require_panel_access(actor, schedule_id)
    return history_of(schedule, before_id=before_id, after_id=after_id, limit=limit)


def history_of(
    schedule: Schedule,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], bool]:
    """`history` of an occurrence whose panel the caller has already let the actor into
    (require_panel_access): the room join reads the chat, polls and presented page after
    one access check, not one each."""
    return _page(schedule.id, before_id=before_id, after_id=after_id, limit=limit)


def guest_history(
    guest: Guest, schedule_id: int, *, after_id: int | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], bool]:
    """The chat an admitted guest's page shows (as `history`, for the guest's one occurrence)."""
    schedule = invites.require_admitted(guest, schedule_id)
    return _page(schedule.id, before_id=None, after_id=after_id, limit=limit)


def _page(
    schedule_id: int, *, before_id: int | None, after_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    limit = max(1, min(int(limit), MAX_PAGE))
    stmt = (
        db.select(ChatMessage, User, Guest)
        .outerjoin(User, User.id == ChatMessage.user_id)
        .outerjoin(Guest, Guest.id == ChatMessage.guest_id)
        .where(ChatMessage.schedule_id == schedule_id, ChatMessage.deleted_at.is_(None))
        .limit(limit + 1)
    )
    if after_id is not None:
        stmt = stmt.where(ChatMessage.id > after_id).order_by(ChatMessage.id.asc())
    else:
        stmt = stmt.order_by(ChatMessage.id.desc())
    if before_id is not None:
        stmt = stmt.where(ChatMessage.id < before_id)
    rows = db.session.execute(stmt).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    page = [message_dict(m, u, g) for m, u, g in (rows if after_id is not None else reversed(rows))]
    return page, has_more


def delete_message(actor: User, message_id: int) -> ChatMessage:
    message = db.session.get(ChatMessage, message_id)
    if message is None or message.deleted_at is not None:
        raise NotFound("no such message")
    schedule = classes.get_schedule_for(actor, message.schedule_id)  # 404 for outsiders
    access.require_class_moderator(actor, schedule.klass)
    message.deleted_at = utcnow()
    message.deleted_by = actor.id
    audit.record(actor, "chat.delete", "chat_message", message.id, schedule_id=schedule.id)
    live_state.hold_room_lock(schedule.id)
    db.session.flush()
    live_state.publish(
        "chat:deleted", {"id": message_id, "schedule_id": schedule.id}, schedule_id=schedule.id
    )
    return message


def _class_for_manager(actor: User, class_id: int) -> Class:
    klass = access.get_class_for(actor, class_id)
    access.require_class_moderator(actor, klass)
    return klass


def set_muted(actor: User, class_id: int, user_id: int, muted: bool) -> bool:
    """Mute or unmute a student in the class's chat (every occurrence); idempotent."""
    klass = _class_for_manager(actor, class_id)
    target = db.session.get(User, user_id)
    if target is None or not access.is_member(target, klass):
        raise NotFound("no such student in this class")
    if access.can_moderate_class(target, klass):
        raise ValidationFailed("the class's teachers and administrators cannot be muted")
    existing = db.session.execute(
        db.select(ClassMute).filter_by(class_id=klass.id, user_id=target.id)
    ).scalar_one_or_none()
    if muted and existing is None:
        db.session.add(ClassMute(class_id=klass.id, user_id=target.id, muted_by=actor.id))
        try:
            db.session.flush()
        except IntegrityError:  # muted concurrently by another request: same outcome
            db.session.rollback()
            return True
        audit.record(actor, "chat.mute", "user", target.id, class_id=klass.id)
    elif not muted and existing is not None:
        db.session.delete(existing)
        audit.record(actor, "chat.unmute", "user", target.id, class_id=klass.id)
    db.session.flush()
    live_state.publish(
        "chat:muted",
        {"class_id": klass.id, "user_id": target.id, "muted": muted},
        audience="user",
        user_id=target.id,
    )
    return muted


def list_mutes(actor: User, class_id: int) -> list[dict[str, Any]]:
    klass = _class_for_manager(actor, class_id)
    rows = db.session.execute(
        db.select(ClassMute, User)
        .join(User, User.id == ClassMute.user_id)
        .where(ClassMute.class_id == klass.id)
        .order_by(User.name)
    ).all()
    return [{"user_id": u.id, "name": u.name, "muted_at": iso(m.created_at)} for m, u in rows]
