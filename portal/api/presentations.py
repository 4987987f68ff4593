"""Slides and the whiteboard of a class occurrence over REST: present, turn pages, strokes,
the annotated export, and the rendered slide page images.

The same core service (portal.core.presentations) answers the Socket.IO events and
announces every change to the room (slides:page, board:stroke, board:erased,
board:cleared). docs/content.md and docs/live.md.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from pydantic import Field

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.live import Id
from portal.api.schemas import Model, Out
from portal.core import presentations


class StrokeOut(Out):
    id: int
    user_id: int | None
    slide_id: int | None
    page: int
    tool: str
    color: str
    width: float
    points: list[list[float]]
    text: str | None = None


class PresentationOut(Out):
    schedule_id: int
    active: bool
    slide_id: int | None
    filename: str | None
    board: bool
    page: int
    page_count: int
    board_pages: int
    co_presenting: bool
    revision: int = Field(
        description="raised by every change of the occurrence's presentation: a client "
        "keeps the state with the highest revision it has received"
    )


class PresentationStateOut(PresentationOut):
    may_present: bool
    manager: bool
    strokes: list[StrokeOut]


class PresentIn(Model):
    slide_id: Id | None = None
    page: int = Field(default=1, ge=1, le=100_000)


class PageIn(Model):
    page: int = Field(ge=1, le=100_000)


class CoPresentIn(Model):
    allowed: bool


class StrokeIn(Model):
    """A stroke as drawn; the core checks every rule (presentations.validate_stroke)."""

    tool: str = Field(description="pen, highlighter, line, rect, ellipse or text")
    color: str = Field(description="#rrggbb")
    width: float = Field(description="line width as a fraction of the page width")
    points: list[list[float]] = Field(description="[x, y] pairs in 0..1 of the page")
    text: str | None = None
    slide_id: int | None = Field(default=None, description="the page it was drawn on")
    page: int | None = None


class StrokesQuery(Model):
    slide_id: Id | None = None
    page: int = Field(default=1, ge=1, le=100_000)


class ErasedOut(Out):
    stroke_ids: list[int]


class ClearedOut(Out):
    removed: int


class PageImageQuery(Model):
    width: int | None = Field(default=None, ge=1, le=10_000)


@endpoint(
    api,
    "/schedules/<int:schedule_id>/presentation",
    summary="What the room presents now, with the current page's strokes",
    response=PresentationStateOut,
    tags=["slides"],
    errors=[403, 404],
)
def presentation_state(schedule_id: int) -> Any:
    return PresentationStateOut.model_validate(presentations.state(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/presentation",
    "PUT",
    summary="Present a slide deck of the class, or the blank board without slide_id (teacher)",
    body=PresentIn,
    response=PresentationOut,
    tags=["slides"],
    errors=[400, 403, 404, 422],
)
def presentation_present(schedule_id: int, body: PresentIn) -> Any:
    return PresentationOut.model_validate(
        presentations.present(current_actor(), schedule_id, body.slide_id, body.page)
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/presentation/page",
    "POST",
    summary="Turn to a page (teacher, or a co-presenting student with the floor)",
    body=PageIn,
    response=PresentationOut,
    tags=["slides"],
    errors=[400, 403, 404, 409, 422],
)
def presentation_turn(schedule_id: int, body: PageIn) -> Any:
    return PresentationOut.model_validate(
        presentations.turn_page(current_actor(), schedule_id, body.page)
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/presentation/co-presenting",
    "PUT",
    summary="Let students with the floor turn pages and draw, or stop them (teacher)",
    body=CoPresentIn,
    response=PresentationOut,
    tags=["slides"],
    errors=[400, 403, 404, 409],
)
def presentation_co_presenting(schedule_id: int, body: CoPresentIn) -> Any:
    return PresentationOut.model_validate(
        presentations.set_co_presenting(current_actor(), schedule_id, body.allowed)
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/strokes",
    summary="The whiteboard strokes of one page (a slide page, or a board page without slide_id)",
    query=StrokesQuery,
    response=list[StrokeOut],
    tags=["slides"],
    errors=[403, 404],
)
def strokes_list(schedule_id: int, query: StrokesQuery) -> Any:
    return [
        StrokeOut.model_validate(s)
        for s in presentations.list_strokes(
            current_actor(), schedule_id, query.slide_id, query.page
        )
    ]


@endpoint(
    api,
    "/schedules/<int:schedule_id>/strokes",
    "POST",
    summary="Draw a stroke on the current page (teacher, or a co-presenting student)",
    body=StrokeIn,
    response=StrokeOut,
    status=201,
    tags=["slides"],
    errors=[400, 403, 404, 409, 413],
)
def strokes_add(schedule_id: int, body: StrokeIn) -> Any:
    return StrokeOut.model_validate(
        presentations.add_stroke(current_actor(), schedule_id, body.model_dump(exclude_none=True))
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/strokes/undo",
    "POST",
    summary="Undo my last stroke on the current page",
    response=ErasedOut,
    tags=["slides"],
    errors=[403, 404, 409],
)
def strokes_undo(schedule_id: int) -> Any:
    return ErasedOut(stroke_ids=presentations.undo(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/strokes/<int:stroke_id>",
    "DELETE",
    summary="Erase a whole stroke of the current page",
    response=ErasedOut,
    tags=["slides"],
    errors=[403, 404, 409],
)
def strokes_erase(schedule_id: int, stroke_id: int) -> Any:
    return ErasedOut(stroke_ids=presentations.erase_stroke(current_actor(), schedule_id, stroke_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/strokes",
    "DELETE",
    summary="Clear the current page's strokes (teacher)",
    response=ClearedOut,
    tags=["slides"],
    errors=[403, 404, 409],
)
def strokes_clear(schedule_id: int) -> Any:
    return ClearedOut(removed=presentations.clear_page(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>/presentation/export",
    summary="The annotated presentation as a PDF: every presented page with its strokes (teacher)",
    tags=["slides"],
    errors=[403, 404],
    produces={"application/pdf": {"type": "string", "format": "binary"}},
)
def presentation_export(schedule_id: int) -> Any:
    content, filename = presentations.export_pdf(current_actor(), schedule_id)
    return Response(
        content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    ), 200


@endpoint(
    api,
    "/slides/<int:slide_id>/pages/<int:page>",
    summary="One page of a slide deck as a PNG image (class members)",
    query=PageImageQuery,
    tags=["slides"],
    errors=[403, 404, 422],
    produces={"image/png": {"type": "string", "format": "binary"}},
)
def slide_page_image(slide_id: int, page: int, query: PageImageQuery) -> Any:
    image, etag = presentations.page_image(current_actor(), slide_id, page, query.width)
    response = Response(
        image,
        mimetype="image/png",
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
    response.set_etag(etag)
    response.make_conditional(request)
    return response, response.status_code
