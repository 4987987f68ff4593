"""Invite links over REST: a class's teachers create, list and revoke them; a guest enters
through one and, with the guest cookie it sets, waits, joins and leaves. The guest cookie
is read by the /api/guest endpoints only: every other endpoint answers a guest 401."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import current_app, jsonify, request
from pydantic import Field
from werkzeug.wrappers import Response

from portal.api import api
from portal.api.framework import current_actor, endpoint, serialise
from portal.api.live import Id
from portal.api.meetings import join_target_out
from portal.api.schemas import DateTimeIn, JoinTargetOut, Model, Out
from portal.core import chat, invites, meetings
from portal.core.models import Guest
from portal.extensions import limiter

GUEST_COOKIE = "portal_guest"


class InviteIn(Model):
    expires_at: DateTimeIn
    schedule_id: Id | None = Field(default=None, description="one occurrence; omit: every one")
    access_code: str | None = Field(default=None, max_length=invites.MAX_CODE)
    viewer_only: bool = False
    label: str = Field(default="", max_length=200)


class InviteOut(Out):
    id: int
    class_id: int
    schedule_id: int | None
    label: str
    expires_at: datetime
    revoked_at: datetime | None
    viewer_only: bool
    has_code: bool
    state: Literal["active", "expired", "revoked"]
    created_at: datetime


class InviteCreatedOut(InviteOut):
    token: str = Field(description="shown once: the link is /invite/<token>")
    url: str


class EnterIn(Model):
    name: str = Field(max_length=invites.MAX_NAME)
    access_code: str = Field(default="", max_length=invites.MAX_CODE)


class GuestOut(Out):
    guest_id: int
    name: str
    class_id: int
    class_title: str
    schedule_id: int | None
    status: Literal["new", "waiting", "admitted", "refused"]
    message: str
    waits_in: Literal["portal", "meeting"] = Field(
        description="portal: the teacher admits here; meeting: the meeting's own lobby holds "
        "the waiting room (BBB, Jitsi), so join now and wait there"
    )


def _guest_out(guest: Guest) -> GuestOut:
    info = invites.guest_dict(guest)
    held = guest.schedule_id is not None and meetings.backend_holds_waiting(guest.schedule_id)
    return GuestOut(
        guest_id=guest.id,
        name=info["name"],
        class_id=guest.link.class_id,
        class_title=guest.link.klass.title,
        schedule_id=guest.schedule_id,
        status=info["status"],
        message=info["message"],
        waits_in="meeting" if held else "portal",
    )


def set_guest_cookie(response: Response, session_token: str, expires: datetime) -> None:
    """The guest's session cookie, gone when the link expires (revoking ends it server-side)."""
    response.set_cookie(
        GUEST_COOKIE,
        session_token,
        expires=expires,
        httponly=True,
        samesite="Strict",  # no other site can make a guest's browser act for them
        secure=bool(current_app.config["JWT_COOKIE_SECURE"]),
    )


def enter_limit() -> str:
    """Per address, on top of the per-link count of wrong codes (portal/core/invites.py)."""
    return current_app.config.get("GUEST_ENTER_RATE_LIMIT") or "30 per hour"


def current_guest() -> Guest:
    return invites.guest_for_session(request.cookies.get(GUEST_COOKIE))


@endpoint(
    api,
    "/classes/<int:class_id>/invites",
    "POST",
    body=InviteIn,
    summary="Create an invite link for guests (owner, co-teacher); the token is shown once",
    response=InviteCreatedOut,
    status=201,
    tags=["invites"],
    errors=[400, 403, 404],
)
def invite_create(class_id: int, body: InviteIn):
    link, token = invites.create_link(
        current_actor(),
        class_id,
        expires_at=body.expires_at,
        schedule_id=body.schedule_id,
        access_code=body.access_code,
        viewer_only=body.viewer_only,
        label=body.label,
    )
    url = request.host_url.rstrip("/") + f"/invite/{token}"
    return InviteCreatedOut(**invites.link_dict(link), token=token, url=url)


@endpoint(
    api,
    "/classes/<int:class_id>/invites",
    summary="The class's invite links (owner, co-teacher)",
    response=list[InviteOut],
    tags=["invites"],
    errors=[403, 404],
)
def invite_list(class_id: int):
    links = invites.list_links(current_actor(), class_id)
    return [InviteOut(**invites.link_dict(link)) for link in links]


@endpoint(
    api,
    "/invites/<int:link_id>/revoke",
    "POST",
    summary="Revoke an invite link: it and the guest sessions it gave stop working",
    response=InviteOut,
    tags=["invites"],
    errors=[403, 404],
)
def invite_revoke(link_id: int):
    return InviteOut(**invites.link_dict(invites.revoke_link(current_actor(), link_id)))


@endpoint(
    api,
    "/invite/<token>/enter",
    "POST",
    body=EnterIn,
    auth=False,
    summary="A guest enters through an invite link with a name (and the access code)",
    response=GuestOut,
    status=201,
    tags=["guests"],
    errors=[400, 403, 404, 410, 429],
    decorators=[limiter.limit(enter_limit)],
)
def guest_enter(token: str, body: EnterIn):
    guest, session_token = invites.redeem(token, body.name, body.access_code)
    response = jsonify(serialise(_guest_out(guest)))
    set_guest_cookie(response, session_token, guest.link.expires_at)
    return response, 201


@endpoint(
    api,
    "/guest/me",
    auth=False,
    summary="The guest behind the guest cookie, and their place in the waiting room",
    response=GuestOut,
    tags=["guests"],
    errors=[401],
)
def guest_me():
    return _guest_out(current_guest())


@endpoint(
    api,
    "/guest/schedules/<int:schedule_id>/knock",
    "POST",
    auth=False,
    summary="The guest asks to enter an occurrence their link covers; they wait",
    response=GuestOut,
    tags=["guests"],
    errors=[401, 404],
)
def guest_knock(schedule_id: int):
    return _guest_out(invites.knock(current_guest(), schedule_id))


@endpoint(
    api,
    "/guest/schedules/<int:schedule_id>/join",
    "POST",
    auth=False,
    summary="An admitted guest joins the running occurrence as a viewer",
    response=JoinTargetOut,
    tags=["guests"],
    errors=[401, 403, 404, 409, 503],
)
def guest_join(schedule_id: int):
    return join_target_out(meetings.join_as_guest(current_guest(), schedule_id))


@endpoint(
    api,
    "/guest/leave",
    "POST",
    auth=False,
    summary="The guest leaves the room",
    response=GuestOut,
    tags=["guests"],
    errors=[401],
)
def guest_leave():
    return _guest_out(meetings.leave_as_guest(current_guest()))


class GuestChatIn(Model):
    body: str = Field(max_length=20000)


@endpoint(
    api,
    "/guest/schedules/<int:schedule_id>/chat",
    "POST",
    body=GuestChatIn,
    auth=False,
    summary="An admitted guest writes in the class chat",
    status=201,
    tags=["guests"],
    errors=[400, 401, 403, 404, 409, 429],
)
def guest_chat(schedule_id: int, body: GuestChatIn):
    return chat.post_guest_message(current_guest(), schedule_id, body.body)
