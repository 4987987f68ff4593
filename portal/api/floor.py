"""The floor of a class occurrence (raised hands, microphone/camera/screen grants) over REST.

The same core service announces every change on the live panel's socket events
(hand:raised, hand:lowered, hands:lowered, floor:granted, floor:withdrawn, floor:muted).
"""

from __future__ import annotations

from pydantic import Field

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.live import Id
from portal.api.schemas import Model, Out
from portal.core import floor


class PersonOut(Out):
    id: int
    name: str


class SeatOut(Out):
    user: PersonOut
    hand_raised: bool
    raised_at: str | None
    mic: bool
    camera: bool
    screen: bool
    mic_muted: bool


class MySeatOut(Out):
    user_id: int
    hand_raised: bool
    position: int | None
    mic: bool
    camera: bool
    screen: bool
    mic_muted: bool


class FloorOut(Out):
    schedule_id: int
    revision: int = Field(
        description="raised by every change of the occurrence's floor (the events carry it "
        "too): a client keeps the state with the highest revision it has received"
    )
    manager: bool
    me: MySeatOut
    hands: list[SeatOut]
    granted: list[SeatOut]


class LoweredOut(Out):
    user_ids: list[int]


class GrantIn(Model):
    user_id: Id
    mic: bool | None = None
    camera: bool | None = None
    screen: bool | None = None


class StudentIn(Model):
    user_id: Id


@endpoint(
    api,
    "/schedules/<int:schedule_id>/floor",
    summary="The floor: my seat; for the teacher the hand queue and who may speak",
    response=FloorOut,
    tags=["live"],
    errors=[403, 404],
)
def floor_state(schedule_id: int):
    return FloorOut.model_validate(floor.state(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/hands",
    "POST",
    summary="Raise my hand (student)",
    response=SeatOut,
    tags=["live"],
    errors=[400, 403, 404],
)
def hand_raise(schedule_id: int):
    return SeatOut.model_validate(floor.raise_hand(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/hands/me",
    "DELETE",
    summary="Lower my hand",
    response=SeatOut,
    tags=["live"],
    errors=[403, 404],
)
def hand_lower_mine(schedule_id: int):
    return SeatOut.model_validate(floor.lower_hand(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/hands/<int:user_id>",
    "DELETE",
    summary="Lower a student's hand (the teacher; or the student themselves)",
    response=SeatOut,
    tags=["live"],
    errors=[403, 404],
)
def hand_lower(schedule_id: int, user_id: int):
    return SeatOut.model_validate(floor.lower_hand(current_actor(), schedule_id, user_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/hands",
    "DELETE",
    summary="Lower all hands (teacher)",
    response=LoweredOut,
    tags=["live"],
    errors=[403, 404],
)
def hands_lower_all(schedule_id: int):
    return LoweredOut(user_ids=floor.lower_all(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/floor/grant",
    "POST",
    summary="Grant a student the microphone, camera and/or screen (teacher)",
    body=GrantIn,
    response=SeatOut,
    tags=["live"],
    errors=[400, 403, 404],
)
def floor_grant(schedule_id: int, body: GrantIn):
    return SeatOut.model_validate(
        floor.grant(
            current_actor(),
            schedule_id,
            body.user_id,
            mic=body.mic,
            camera=body.camera,
            screen=body.screen,
        )
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/floor/withdraw",
    "POST",
    summary="Withdraw what a student was granted (all of it when nothing is named; teacher)",
    body=GrantIn,
    response=SeatOut,
    tags=["live"],
    errors=[400, 403, 404],
)
def floor_withdraw(schedule_id: int, body: GrantIn):
    return SeatOut.model_validate(
        floor.withdraw(
            current_actor(),
            schedule_id,
            body.user_id,
            mic=body.mic,
            camera=body.camera,
            screen=body.screen,
        )
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/floor/mute",
    "POST",
    summary="Mute a student's microphone: the media server stops forwarding it (teacher)",
    body=StudentIn,
    response=SeatOut,
    tags=["live"],
    errors=[400, 403, 404],
)
def floor_mute(schedule_id: int, body: StudentIn):
    return SeatOut.model_validate(floor.mute(current_actor(), schedule_id, body.user_id))
