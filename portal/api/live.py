"""REST fallback of the live panel (chat, polls, presence) for clients without a socket.

Every action goes through the same core services as the Socket.IO events, so socket
clients see REST actions too (the services announce them once committed).
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Response
from pydantic import BaseModel, Field

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import Model, Out
from portal.core import chat, live_state, polls
from portal.features import serve_features

# --- schemas --------------------------------------------------------------------------

# Database ids are 32-bit integers; larger numbers are refused before reaching the database.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class ChatIn(Model):
    body: str = Field(min_length=1, max_length=100_000)


class ChatAuthorOut(Out):
    id: int | None = Field(description='null for a guest (role "guest"), who has no account')
    name: str
    role: str


class ChatMessageOut(Out):
    id: int
    schedule_id: int
    user: ChatAuthorOut | None
    body: str
    created_at: str | None


class ChatPageOut(Out):
    messages: list[ChatMessageOut]
    has_more: bool


class ChatPageQuery(Model):
    before_id: Id | None = None
    limit: int = Field(default=50, ge=1, le=chat.MAX_PAGE)


class MuteIn(Model):
    user_id: Id


class MuteOut(Out):
    user_id: int
    name: str
    muted_at: str | None


class PresenceUserOut(Out):
    id: int
    name: str
    role: str


class PresenceOut(Out):
    schedule_id: int
    users: list[PresenceUserOut]


class PollIn(Model):
    question: str = Field(min_length=1, max_length=polls.MAX_QUESTION)
    options: list[str] = Field(min_length=polls.MIN_OPTIONS, max_length=polls.MAX_OPTIONS)
    multiple_choice: bool = False
    anonymous: bool = False


class VoteIn(Model):
    option_ids: list[Id] = Field(min_length=1, max_length=polls.MAX_OPTIONS)


class PublishIn(Model):
    published: bool = True


class PollOptionOut(Out):
    id: int
    text: str
    position: int


class VoterOut(Out):
    id: int
    name: str


class ResultOptionOut(Out):
    option_id: int
    text: str
    votes: int
    voters: list[VoterOut] | None = None


class PollResultsOut(Out):
    poll_id: int
    schedule_id: int
    status: str
    results_published: bool
    revision: int = Field(description="the poll's revision these results were counted at")
    vote_seq: int = Field(
        description="the highest ballot row counted: it grows with every vote, so a client "
        "keeps the results with the highest (revision, vote_seq) it has received"
    )
    voters: int
    options: list[ResultOptionOut]


class PollOut(Out):
    id: int
    schedule_id: int
    question: str
    options: list[PollOptionOut]
    multiple_choice: bool
    anonymous: bool
    status: Literal["draft", "open", "closed"]
    results_published: bool
    opened_at: str | None
    closed_at: str | None
    revision: int = Field(
        description="raised by every change the teacher makes to the poll (open, close, "
        "publish, hide; not by votes): a client keeps the poll with the highest revision"
    )
    my_vote: list[int]
    results: PollResultsOut | None = None


class VoteOut(Out):
    poll_id: int
    my_vote: list[int]


class ExportQuery(Model):
    format: Literal["csv", "json"] = "csv"


def _out(model: type[BaseModel], data: dict) -> BaseModel:
    return model.model_validate(data)


# --- chat -----------------------------------------------------------------------------


@endpoint(
    api,
    "/schedules/<int:schedule_id>/chat",
    summary="Chat history of a class occurrence (paged, oldest first)",
    query=ChatPageQuery,
    response=ChatPageOut,
    tags=["live"],
    errors=[403, 404],
)
def live_chat_history(schedule_id: int, query: ChatPageQuery):
    messages, has_more = chat.history(
        current_actor(), schedule_id, before_id=query.before_id, limit=query.limit
    )
    return ChatPageOut(
        messages=[ChatMessageOut.model_validate(m) for m in messages], has_more=has_more
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/chat",
    "POST",
    summary="Post a chat message to a class occurrence",
    body=ChatIn,
    response=ChatMessageOut,
    status=201,
    tags=["live"],
    errors=[400, 403, 404, 429],
)
def live_chat_post(schedule_id: int, body: ChatIn):
    return _out(ChatMessageOut, chat.post_message(current_actor(), schedule_id, body.body))


@endpoint(
    api,
    "/chat/<int:message_id>",
    "DELETE",
    summary="Delete a chat message (the class's teacher)",
    tags=["live"],
    errors=[403, 404],
)
def live_chat_delete(message_id: int):
    chat.delete_message(current_actor(), message_id)


@endpoint(
    api,
    "/classes/<int:class_id>/mutes",
    summary="Students muted in the class's chat (teacher)",
    response=list[MuteOut],
    tags=["live"],
    errors=[403, 404],
)
def live_mutes_list(class_id: int):
    return [_out(MuteOut, m) for m in chat.list_mutes(current_actor(), class_id)]


@endpoint(
    api,
    "/classes/<int:class_id>/mutes",
    "POST",
    summary="Mute a student in the class's chat (teacher)",
    body=MuteIn,
    status=204,
    tags=["live"],
    errors=[400, 403, 404],
)
def live_mute(class_id: int, body: MuteIn):
    chat.set_muted(current_actor(), class_id, body.user_id, True)


@endpoint(
    api,
    "/classes/<int:class_id>/mutes/<int:user_id>",
    "DELETE",
    summary="Unmute a student (teacher)",
    tags=["live"],
    errors=[403, 404],
)
def live_unmute(class_id: int, user_id: int):
    chat.set_muted(current_actor(), class_id, user_id, False)


@endpoint(
    api,
    "/schedules/<int:schedule_id>/presence",
    summary="Who is in the live panel now",
    response=PresenceOut,
    tags=["live"],
    errors=[403, 404],
)
def live_presence(schedule_id: int):
    schedule = chat.require_panel_access(current_actor(), schedule_id)
    return PresenceOut(
        schedule_id=schedule.id,
        users=[PresenceUserOut.model_validate(u) for u in live_state.presence_list(schedule.id)],
    )


# --- polls ----------------------------------------------------------------------------


@endpoint(
    api,
    "/schedules/<int:schedule_id>/polls",
    summary="Polls of a class occurrence (drafts: teacher only)",
    response=list[PollOut],
    tags=["live"],
    errors=[403, 404],
)
def live_polls_list(schedule_id: int):
    return [_out(PollOut, p) for p in polls.list_polls(current_actor(), schedule_id)]


@endpoint(
    api,
    "/schedules/<int:schedule_id>/polls",
    "POST",
    summary="Create a draft poll (teacher)",
    body=PollIn,
    response=PollOut,
    status=201,
    tags=["live"],
    errors=[400, 403, 404],
)
def live_poll_create(schedule_id: int, body: PollIn):
    return _out(
        PollOut,
        polls.create_poll(
            current_actor(),
            schedule_id,
            question=body.question,
            options=body.options,
            multiple_choice=body.multiple_choice,
            anonymous=body.anonymous,
        ),
    )


@endpoint(
    api,
    "/polls/<int:poll_id>/open",
    "POST",
    summary="Open a draft poll for votes (teacher)",
    response=PollOut,
    tags=["live"],
    errors=[403, 404, 409],
)
def live_poll_open(poll_id: int):
    return _out(PollOut, polls.open_poll(current_actor(), poll_id))


@endpoint(
    api,
    "/polls/<int:poll_id>/close",
    "POST",
    summary="Close an open poll (teacher)",
    response=PollOut,
    tags=["live"],
    errors=[403, 404, 409],
)
def live_poll_close(poll_id: int):
    return _out(PollOut, polls.close_poll(current_actor(), poll_id))


@endpoint(
    api,
    "/polls/<int:poll_id>/publish",
    "POST",
    summary="Publish (or hide) a poll's results to the class (teacher)",
    body=PublishIn,
    response=PollOut,
    tags=["live"],
    errors=[403, 404, 409],
)
def live_poll_publish(poll_id: int, body: PublishIn):
    return _out(PollOut, polls.publish_results(current_actor(), poll_id, body.published))


@endpoint(
    api,
    "/polls/<int:poll_id>/vote",
    "POST",
    summary="Vote in an open poll; voting again replaces the vote",
    body=VoteIn,
    response=VoteOut,
    tags=["live"],
    errors=[400, 403, 404, 409],
)
def live_poll_vote(poll_id: int, body: VoteIn):
    return _out(VoteOut, polls.vote(current_actor(), poll_id, body.option_ids))


@endpoint(
    api,
    "/polls/<int:poll_id>/results",
    summary="A poll's results (teacher, or everyone once published)",
    response=PollResultsOut,
    tags=["live"],
    errors=[403, 404],
)
def live_poll_results(poll_id: int):
    return _out(PollResultsOut, polls.get_results(current_actor(), poll_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/polls/export",
    summary="Export the occurrence's polls and results (teacher)",
    query=ExportQuery,
    tags=["live"],
    errors=[403, 404],
    produces={"text/csv": {"type": "string"}, "application/json": {"type": "object"}},
)
def live_polls_export(schedule_id: int, query: ExportQuery):
    content, mimetype, filename = polls.export(current_actor(), schedule_id, query.format)
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    ), 200


@endpoint(
    api,
    "/polls/<int:poll_id>/export",
    summary="Export one poll and its results (teacher)",
    query=ExportQuery,
    tags=["live"],
    errors=[403, 404],
    produces={"text/csv": {"type": "string"}, "application/json": {"type": "object"}},
)
def live_poll_export(poll_id: int, query: ExportQuery):
    actor = current_actor()
    results = polls.get_results(actor, poll_id)
    content, mimetype, filename = polls.export(
        actor, results["schedule_id"], query.format, poll_id=poll_id
    )
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    ), 200


serve_features(api, "chat", "chat_send", "polls", "polls_create", "polls_publish", "presence")
