from __future__ import annotations

from typing import Any

from portal.api import api
from portal.api.framework import current_actor, endpoint, serialise
from portal.api.schemas import BackendChoiceOut, JoinTargetOut, MeetingStateOut, StartOut
from portal.core import backends, meetings
from portal.plugins.types import JoinTarget


def join_target_out(target: JoinTarget) -> JoinTargetOut:
    """A join target as every join answers it: the REST joins, the start, and the live
    socket's `class:join` (join_target_body)."""
    return JoinTargetOut(**target.as_dict())


def join_target_body(target: JoinTarget) -> dict[str, Any]:
    """The JSON body of POST /api/schedules/<id>/join for this target."""
    return serialise(join_target_out(target))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/start",
    "POST",
    summary="Start a class occurrence (teacher)",
    response=StartOut,
    tags=["meetings"],
    errors=[409, 503],
)
def start(schedule_id: int):
    meeting, target = meetings.start_class(current_actor(), schedule_id)
    return StartOut(meeting_id=meeting.id, state=meeting.status, join=join_target_out(target))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/join",
    "POST",
    summary="Join a running class occurrence",
    response=JoinTargetOut,
    tags=["meetings"],
    errors=[409, 503],
)
def join(schedule_id: int):
    return join_target_out(meetings.join_class(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/end",
    "POST",
    summary="End a running class occurrence (teacher)",
    response=MeetingStateOut,
    tags=["meetings"],
    errors=[409, 503],
)
def end(schedule_id: int):
    actor = current_actor()
    meetings.end_class(actor, schedule_id)
    return MeetingStateOut(**meetings.meeting_state(actor, schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/meeting",
    summary="Whether the occurrence has started",
    response=MeetingStateOut,
    tags=["meetings"],
)
def meeting_state(schedule_id: int):
    return MeetingStateOut(**meetings.meeting_state(current_actor(), schedule_id))


@endpoint(
    api,
    "/backends",
    summary="Meeting backends teachers can choose",
    response=list[BackendChoiceOut],
    tags=["meetings"],
)
def backend_choices():
    current_actor()
    out = []
    for config in backends.offered_configs():
        plugin = backends.backend_plugin(config.backend)
        out.append(
            BackendChoiceOut(
                id=config.id,
                name=config.name,
                backend=config.backend,
                label=plugin.label,
                is_default=config.is_default,
                capabilities=plugin.capabilities.as_dict(),
            )
        )
    return out
