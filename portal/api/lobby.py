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
from portal.core import lobby


class LobbyEntryOut(Out):
    user_id: int
    name: str
    status: Literal["waiting", "admitted", "refused"]
    message: str = Field(description="the teacher's answer to a refused person")
    requested_at: datetime


class AdmitIn(Model):
    user_ids: list[Id] | None = Field(
        default=None, max_length=500, description="omit to admit everyone waiting"
    )


class RefuseIn(Model):
    user_id: Id
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
    entries = lobby.list_waiting(current_actor(), schedule_id)
    return [LobbyEntryOut.model_validate(lobby.entry_dict(e)) for e in entries]


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
    entries = lobby.admit(current_actor(), schedule_id, body.user_ids)
    return [LobbyEntryOut.model_validate(lobby.entry_dict(e)) for e in entries]


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
    entry = lobby.refuse(current_actor(), schedule_id, body.user_id, body.message)
    return LobbyEntryOut.model_validate(lobby.entry_dict(entry))
