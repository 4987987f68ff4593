"""The waiting room of a class occurrence over REST: students ask to enter, the class's
teachers and assistants admit or refuse. Changes are pushed as `lobby:*` socket events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.live import Id
from portal.api.schemas import Model, Out
from portal.core import invites, lobby
from portal.core.errors import ValidationFailed


class LobbyEntryOut(Out):
    user_id: int | None = Field(description="the waiting student (null for a guest)")
    guest_id: int | None = Field(default=None, description="the waiting guest (null for a user)")
    name: str
    status: Literal["waiting", "admitted", "refused"]
    message: str = Field(description="the teacher's answer to a refused person")
    requested_at: datetime


class AdmitIn(Model):
    user_ids: list[Id] | None = Field(
        default=None, max_length=500, description="omit both lists to admit everyone waiting"
    )
    guest_ids: list[Id] | None = Field(default=None, max_length=500)


class RefuseIn(Model):
    user_id: Id | None = None
    guest_id: Id | None = Field(default=None, description="refuse a guest instead of a user")
    message: str = Field(default="", max_length=lobby.MAX_MESSAGE)


@endpoint(
    api,
    "/schedules/<int:schedule_id>/lobby",
    summary="Who waits to enter (the class's teachers and assistants)",
    response=list[LobbyEntryOut],
    tags=["live"],
    errors=[403, 404],
)
def lobby_waiting(schedule_id: int):
    rows = lobby.waiting_dicts(current_actor(), schedule_id)
    return [LobbyEntryOut.model_validate(row) for row in rows]


@endpoint(
    api,
    "/schedules/<int:schedule_id>/lobby/knock",
    "POST",
    summary="Ask to enter a class with a waiting room (student); answers my entry",
    response=LobbyEntryOut,
    tags=["live"],
    errors=[400, 403, 404, 409],
)
def lobby_knock(schedule_id: int):
    entry = lobby.knock(current_actor(), schedule_id)
    return LobbyEntryOut.model_validate(lobby.entry_dict(entry))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/lobby/admit",
    "POST",
    body=AdmitIn,
    summary="Let waiting people in (all of them without user_ids)",
    response=list[LobbyEntryOut],
    tags=["live"],
    errors=[403, 404],
)
def lobby_admit(schedule_id: int, body: AdmitIn):
    rows = lobby.admit(current_actor(), schedule_id, body.user_ids, body.guest_ids)
    return [LobbyEntryOut.model_validate(row) for row in rows]


@endpoint(
    api,
    "/schedules/<int:schedule_id>/lobby/refuse",
    "POST",
    body=RefuseIn,
    summary="Turn a waiting person away with a message their page shows",
    response=LobbyEntryOut,
    tags=["live"],
    errors=[400, 403, 404],
)
def lobby_refuse(schedule_id: int, body: RefuseIn):
    if (body.user_id is None) == (body.guest_id is None):
        raise ValidationFailed("name exactly one of user_id and guest_id", code="one_person")
    if body.guest_id is not None:
        guest = lobby.refuse_guest(current_actor(), schedule_id, body.guest_id, body.message)
        return LobbyEntryOut.model_validate(invites.guest_dict(guest))
    assert body.user_id is not None
    entry = lobby.refuse(current_actor(), schedule_id, body.user_id, body.message)
    return LobbyEntryOut.model_validate(lobby.entry_dict(entry))
