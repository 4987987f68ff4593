"""Invite links and guests: a teacher shares a link to one class (or one occurrence of it)
with someone who has no account (a parent, an inspector, a guest speaker).

The link's token (128 random bits or more) and its optional access code are shown once and
stored only as hashes. Whoever opens the link types a name (and the code) and becomes a
`Guest`: never a users row, never a user's cookies, but a session token of its own that is
good only for the link's class or occurrence and only until the link expires or is revoked.
Guests always wait in the class's waiting room until one of its teachers admits them
(whether the waiting room is on or not); they appear as "Name (guest)" to everyone.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from portal.core import access, audit, live_state, login_guard, security
from portal.core.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from portal.core.models import Class, Guest, InviteLink, Schedule, User
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

TOKEN_BYTES = 24  # 192 bits: more than the 128 the charter asks for
MAX_NAME = 100
MAX_CODE = 64
MAX_LIFETIME = timedelta(days=366)
NEW, WAITING, ADMITTED, REFUSED = "new", "waiting", "admitted", "refused"
# A guest's room credential (the live socket, the SFU's media sessions) names one guest and
# one class occurrence; it lives a school day at most, and the link's expiry still applies.
ROOM_CREDENTIAL_PREFIX = "guest."
ROOM_CREDENTIAL_MAX_AGE = 12 * 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def guest_label(name: str) -> str:
    """How a guest appears in presence, chat, the lobby and attendance."""
    return f"{name} (guest)"


def link_state(link: InviteLink, now: datetime | None = None) -> str:
    now = now or utcnow()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return "active"


def link_dict(link: InviteLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "class_id": link.class_id,
        "schedule_id": link.schedule_id,
        "label": link.label,
        "expires_at": link.expires_at,
        "revoked_at": link.revoked_at,
        "viewer_only": link.viewer_only,
        "has_code": link.code_hash is not None,
        "state": link_state(link),
        "created_at": link.created_at,
    }


def _managed_class(actor: User, class_id: int) -> Class:
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    return klass


def create_link(
    actor: User,
    class_id: int,
    *,
    expires_at: datetime,
    schedule_id: int | None = None,
    access_code: str | None = None,
    viewer_only: bool = False,
    label: str = "",
) -> tuple[InviteLink, str]:
    """A class's owner or co-teacher makes a link; answers it and its token (shown once)."""
    klass = _managed_class(actor, class_id)
    now = utcnow()
    if expires_at <= now:
        raise ValidationFailed("the link must expire in the future", code="expiry_in_past")
    if expires_at - now > MAX_LIFETIME:
        raise ValidationFailed("a link may live at most a year", code="expiry_too_far")
    if schedule_id is not None:
        schedule = db.session.get(Schedule, schedule_id)
        if schedule is None or schedule.class_id != klass.id:
            raise NotFound("no such occurrence in this class")
    code = (access_code or "").strip()
    if len(code) > MAX_CODE:
        raise ValidationFailed(
            gettext("the access code may have at most %(count)s characters", count=MAX_CODE)
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = InviteLink(
        class_id=klass.id,
        schedule_id=schedule_id,
        token_hash=_digest(token),
        code_hash=security.hash_password(code) if code else None,
        viewer_only=viewer_only,
        label=label.strip()[:200],
        expires_at=expires_at,
        created_by=actor.id,
    )
    db.session.add(link)
    db.session.flush()
    audit.record(actor, "invite.create", "class", klass.id, link_id=link.id)
    return link, token


def list_links(actor: User, class_id: int) -> list[InviteLink]:
    klass = _managed_class(actor, class_id)
    return list(
        db.session.execute(
            select(InviteLink)
            .filter_by(class_id=klass.id)
            .order_by(InviteLink.created_at.desc(), InviteLink.id.desc())
        ).scalars()
    )


def revoke_link(actor: User, link_id: int) -> InviteLink:
    """Ends the link's future use and every guest session it gave (revoking twice is once)."""
    link = db.session.get(InviteLink, link_id)
    if link is None:
        raise NotFound("no such invite link")
    _managed_class(actor, link.class_id)
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        audit.record(actor, "invite.revoke", "class", link.class_id, link_id=link.id)
    return link


def open_link(token: str) -> InviteLink:
    """The link behind a token, if it may still be used: 404 unknown, 410 revoked or expired."""
    link = db.session.execute(
        select(InviteLink).filter_by(token_hash=_digest(token or ""))
    ).scalar_one_or_none()
    if link is None:
        raise NotFound("this invite link does not exist: ask the teacher for a new one")
    state = link_state(link)
    if state == "revoked":
        raise Gone("this invite link was revoked: ask the teacher for a new one", code="revoked")
    if state == "expired":
        raise Gone("this invite link has expired: ask the teacher for a new one", code="expired")
    return link


def _guard_key(link: InviteLink) -> str:
    return f"invite-link:{link.id}"


def redeem(token: str, name: str, access_code: str = "") -> tuple[Guest, str]:
    """A guest types a name (and the code): answers the guest and their session token.

    Wrong codes count against the link (not the machine), with the sign-in's progressive
    delay, so a short code cannot be guessed from many machines."""
    link = open_link(token)
    display = " ".join((name or "").split())
    if not display:
        raise ValidationFailed("type your name so the teacher knows who you are", code="no_name")
    if len(display) > MAX_NAME:
        raise ValidationFailed(
            gettext("the name may have at most %(count)s characters", count=MAX_NAME)
        )
    if link.code_hash is not None:
        try:
            login_guard.check(_guard_key(link))
        except TooManyRequests as exc:
            raise TooManyRequests(
                gettext(
                    "too many wrong access codes; try again in %(seconds)s s",
                    seconds=exc.retry_after,
                ),
                code="code_attempts",
                retry_after=exc.retry_after,
            ) from exc
        if not security.verify_password(link.code_hash, (access_code or "").strip()):
            login_guard.record_failure(_guard_key(link))
            raise Forbidden("that access code is not right", code="wrong_code")
    session_token = secrets.token_urlsafe(TOKEN_BYTES)
    guest = Guest(invite_link_id=link.id, name=display, session_hash=_digest(session_token))
    if link.schedule_id is not None:
        guest.schedule_id = link.schedule_id
    db.session.add(guest)
    db.session.flush()
    return guest, session_token


def guest_for_session(session_token: str | None) -> Guest:
    """The guest behind a session token; 401 once the link expired or was revoked."""
    if not session_token:
        raise NotAuthenticated("open your invite link first", code="no_guest_session")
    guest = db.session.execute(
        select(Guest).filter_by(session_hash=_digest(session_token))
    ).scalar_one_or_none()
    if guest is None or link_state(guest.link) != "active":
        raise NotAuthenticated(
            "your guest session has ended: open the invite link again", code="guest_session_ended"
        )
    return guest


def guest_schedule(guest: Guest, schedule_id: int) -> Schedule:
    """The occurrence if the guest's link covers it; 404 for any other (no class is revealed)."""
    schedule = db.session.get(Schedule, schedule_id)
    link = guest.link
    if (
        schedule is None
        or schedule.class_id != link.class_id
        or (link.schedule_id is not None and schedule.id != link.schedule_id)
    ):
        raise NotFound("no such class occurrence")
    return schedule


def guest_dict(guest: Guest) -> dict[str, Any]:
    return {
        "guest_id": guest.id,
        "user_id": None,
        "name": guest_label(guest.name),
        "status": guest.status,
        "message": _refusal(guest) if guest.status == REFUSED else "",
        "requested_at": (guest.requested_at or guest.created_at).isoformat(),
    }


def _refusal(guest: Guest) -> str:
    return "the teacher did not let you in" + (f": {guest.message}" if guest.message else "")


def knock(guest: Guest, schedule_id: int) -> Guest:
    """The guest asks to enter this occurrence; they wait until a teacher decides."""
    schedule = guest_schedule(guest, schedule_id)
    if guest.status in (ADMITTED, REFUSED) and guest.schedule_id == schedule.id:
        return guest
    if guest.status == WAITING and guest.schedule_id == schedule.id:
        return guest
    guest.schedule_id, guest.status, guest.requested_at = schedule.id, WAITING, utcnow()
    guest.left_at = None
    db.session.flush()
    live_state.publish(
        "lobby:waiting", guest_dict(guest), schedule_id=schedule.id, audience="managers"
    )
    return guest


def waiting_guests(schedule_id: int) -> list[Guest]:
    """Guests waiting for this occurrence whose link is still good (the lobby lists them)."""
    now = utcnow()
    return list(
        db.session.execute(
            select(Guest)
            .join(InviteLink, Guest.invite_link_id == InviteLink.id)
            .where(
                Guest.schedule_id == schedule_id,
                Guest.status == WAITING,
                InviteLink.revoked_at.is_(None),
                InviteLink.expires_at > now,
            )
            .order_by(Guest.requested_at, Guest.id)
        ).scalars()
    )


def decide(
    actor: User, schedule: Schedule, guests: list[Guest], status: str, message: str = ""
) -> None:
    """A teacher admits or refuses waiting guests (the lobby checked the teacher's right)."""
    for guest in guests:
        guest.status, guest.message = status, message
        guest.decided_at, guest.decided_by = utcnow(), actor.id
        audit.record(actor, f"lobby.guest_{status}", "schedule", schedule.id, guest_id=guest.id)
        payload = {"schedule_id": schedule.id, **guest_dict(guest)}
        live_state.publish(f"lobby:{status}", payload, schedule_id=schedule.id, audience="managers")
        # The guest's own page learns it at once (its socket, portal/realtime.py).
        live_state.publish(
            f"lobby:{status}", payload, schedule_id=schedule.id, audience="guest", user_id=guest.id
        )


def require_admitted(guest: Guest, schedule_id: int, *, held_by_backend: bool = False) -> Schedule:
    """The join asks this: the guest may enter only once a teacher admitted them, or, when
    the meeting's own lobby holds the waiting room (`held_by_backend`), once they asked."""
    schedule = guest_schedule(guest, schedule_id)
    if guest.schedule_id != schedule.id or guest.status == NEW:
        raise Conflict("wait here: the teacher will let you in", code="waiting_room")
    if guest.status == WAITING and not held_by_backend:
        raise Conflict("wait here: the teacher will let you in", code="waiting_room")
    if guest.status == REFUSED:
        raise Forbidden(_refusal(guest), code="refused")
    return schedule


def _presence_key(guest: Guest) -> str:
    # Not a socket id: the guest's page has no socket, the guest is present from join to leave.
    return f"guest:{guest.id}"


def enter_presence(guest: Guest, schedule_id: int) -> None:
    """The joined guest is in the room's presence list as "Name (guest)" (id: minus theirs)."""
    entry = {"id": -guest.id, "name": guest_label(guest.name), "role": "guest"}
    live_state.presence_add(schedule_id, _presence_key(guest), entry)
    live_state.announce_presence(schedule_id)


def leave(guest: Guest) -> Guest:
    """The guest leaves the room (presence and attendance say so); the link stays usable."""
    guest.left_at = utcnow()
    if guest.schedule_id is not None:
        live_state.publish(
            "lobby:left", guest_dict(guest), schedule_id=guest.schedule_id, audience="managers"
        )
        if live_state.presence_remove(guest.schedule_id, _presence_key(guest)):
            live_state.announce_presence(guest.schedule_id)
    return guest


def current_schedule(guest: Guest) -> Schedule | None:
    """The occurrence the guest waits for: the link's own, or the class's current or next one."""
    link = guest.link
    if link.schedule_id is not None:
        return db.session.get(Schedule, link.schedule_id)
    return (
        db.session.execute(
            select(Schedule)
            .where(
                Schedule.class_id == link.class_id,
                Schedule.ends_at > utcnow(),
                Schedule.status != "cancelled",
            )
            .order_by(Schedule.starts_at)
            .limit(1)
        )
        .scalars()
        .first()
    )


def _room_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="portal.guest-room")


def room_credential(guest: Guest, schedule_id: int) -> str:
    """A signed credential for this guest in this one occurrence's room, and no other: what the
    guest's page hands the live socket and the meeting's media server (never the cookie)."""
    schedule = guest_schedule(guest, schedule_id)
    payload = {"g": guest.id, "s": schedule.id}
    return ROOM_CREDENTIAL_PREFIX + str(_room_serializer().dumps(payload))


def is_room_credential(token: str | None) -> bool:
    return bool(token) and str(token).startswith(ROOM_CREDENTIAL_PREFIX)


def guest_for_room_credential(token: str) -> tuple[Guest, Schedule]:
    """The guest and the occurrence a room credential names; 401 once it expired, the link
    was revoked or expired."""
    ended = NotAuthenticated(
        "your guest session has ended: open the invite link again", code="guest_session_ended"
    )
    if not is_room_credential(token):
        raise ended
    try:
        payload = _room_serializer().loads(
            token[len(ROOM_CREDENTIAL_PREFIX) :], max_age=ROOM_CREDENTIAL_MAX_AGE
        )
        guest = db.session.get(Guest, int(payload["g"]))
        schedule_id = int(payload["s"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise ended from None
    if guest is None or link_state(guest.link) != "active":
        raise ended
    return guest, guest_schedule(guest, schedule_id)
