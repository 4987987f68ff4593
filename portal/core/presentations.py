"""Slides and a whiteboard in the class room (backends without a presentation of their own).

The teacher presents one of the class's uploaded PDFs (or a blank board) and turns its
pages; everyone's viewer follows. The state is one `live_presentations` row per occurrence,
so a late joiner, a reload or another server process sees the same page. The teacher may
let a student who holds the floor co-present: turn pages and draw.

Whiteboard strokes are vector data (points normalised to 0..1 of the page), validated
here, stored per (occurrence, slide page or board page) in `board_strokes`, and announced
after commit (`slides:page`, `board:stroke`, `board:erased`, `board:cleared`). Pages are
rendered server-side with pypdfium2 and cached on the portal's storage per (PDF content
hash, page, width); the annotated pages export as one PDF (Pillow draws the strokes).
docs/content.md and docs/live.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

from portal.core import access, floor, live_state, storage
from portal.core.chat import is_manager, require_panel_access
from portal.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PortalError,
    Unprocessable,
    ValidationFailed,
)
from portal.core.models import BoardStroke, LivePresentation, Meeting, Schedule, Slide, User
from portal.core.types import utcnow
from portal.core.uploads import TooLarge
from portal.core.upsert import rows_matched
from portal.extensions import db
from portal.i18n import gettext

# Rendered page widths in pixels: a request is served at the smallest one at least as wide
# (so the cache holds a few images per page, not one per window size).
PAGE_WIDTHS = (480, 960, 1600)
EXPORT_WIDTH = 1600
# A blank-board page has the shape of a 16:9 screen.
BOARD_ASPECT = 9 / 16
MAX_POINTS = 2000
MAX_STROKE_BYTES = 64 * 1024
MAX_STROKES_PER_PAGE = 2000
MAX_TEXT = 500
MAX_BOARD_PAGES = 100
TOOLS = ("pen", "highlighter", "line", "rect", "ellipse", "text")
# Shapes are drawn from their first to their second point.
TWO_POINT_TOOLS = ("line", "rect", "ellipse")
MIN_WIDTH, MAX_WIDTH = 0.0005, 0.05
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
HIGHLIGHTER_ALPHA = 96
# A text stroke's letters are this many times its line width high.
TEXT_SIZE_FACTOR = 8

# pdfium is not thread-safe: one rendering at a time in this process.
_PDFIUM_LOCK = threading.Lock()


# --- the presentation state -------------------------------------------------------------


def _row(schedule_id: int, *, lock: bool = False) -> LivePresentation | None:
    query = db.select(LivePresentation).filter_by(schedule_id=schedule_id)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def _slide_of_class(schedule: Schedule, slide_id: int) -> Slide:
    slide = db.session.get(Slide, slide_id)
    if slide is None or slide.class_id != schedule.class_id:
        raise NotFound("no such slide deck in this class")
    return slide


def _page_count(row: LivePresentation | None) -> int:
    if row is None:
        return 1
    if row.slide_id is None:
        return row.board_pages
    slide = db.session.get(Slide, row.slide_id)
    return slide.page_count if slide is not None else 1


def may_present(actor: User, schedule: Schedule, row: LivePresentation | None) -> bool:
    """Teacher and admins always; a student only while holding the floor and while the
    teacher allows co-presenting."""
    return _may_present(actor, schedule, row, is_manager(actor, schedule))


def _may_present(
    actor: User, schedule: Schedule, row: LivePresentation | None, manager: bool
) -> bool:
    if manager:
        return True
    return bool(row and row.co_presenting and floor.grant_of(schedule.id, actor.id).any)


def _changed(row: LivePresentation, actor: User) -> None:
    """Every change of the presentation goes through here, under the row's lock: the state
    it announces then has a higher revision than any state computed before it."""
    row.revision = (row.revision or 0) + 1
    row.updated_at, row.updated_by = utcnow(), actor.id


def _state_dict(schedule: Schedule, row: LivePresentation | None) -> dict[str, Any]:
    slide = db.session.get(Slide, row.slide_id) if row and row.slide_id else None
    return {
        "schedule_id": schedule.id,
        "active": row is not None,
        "slide_id": slide.id if slide else None,
        "filename": slide.filename if slide else None,
        "board": row is not None and slide is None,
        "page": row.page if row else 1,
        "page_count": _page_count(row),
        "board_pages": row.board_pages if row else 1,
        "co_presenting": bool(row and row.co_presenting),
        # Pages keep the state with the highest revision they have seen: a join ack or a
        # refresh computed before a change may reach them after the change's own answer.
        # Nothing presented yet is 0, below every presented state.
        "revision": row.revision if row else 0,
    }


def state(actor: User, schedule_id: int) -> dict[str, Any]:
    """What the room shows now, with the current page's strokes and whether the actor may
    turn pages and draw (the room's initial payload, also sent on every reconnect)."""
    return state_of(actor, require_panel_access(actor, schedule_id))


def state_of(actor: User, schedule: Schedule) -> dict[str, Any]:
    """`state` of an occurrence whose panel the caller has already let the actor into
    (require_panel_access)."""
    row = _row(schedule.id)
    out = _state_dict(schedule, row)
    out["may_present"] = may_present(actor, schedule, row)
    out["manager"] = is_manager(actor, schedule)
    out["strokes"] = _strokes_of(schedule.id, out["slide_id"], out["page"]) if row else []
    return out


def states_for(schedule: Schedule, viewers: Sequence[tuple[User, bool]]) -> list[dict[str, Any]]:
    """state_of for many actors already let into the occurrence's panel, each with whether
    they moderate it (chat.require_panel_standing): the presented page and its strokes read
    once for them all (the room joins of a class-start rush). One state per viewer."""
    row = _row(schedule.id)
    shared = _state_dict(schedule, row)
    strokes = _strokes_of(schedule.id, shared["slide_id"], shared["page"]) if row else []
    return [
        {
            **shared,
            "may_present": _may_present(actor, schedule, row, manager),
            "manager": manager,
            "strokes": strokes,
        }
        for actor, manager in viewers
    ]


def _announce_state(schedule: Schedule, row: LivePresentation) -> dict[str, Any]:
    out = _state_dict(schedule, row)
    live_state.publish("slides:page", out, schedule_id=schedule.id, audience="room")
    return out


def _check_page(page: int, page_count: int) -> None:
    if not 1 <= page <= page_count:
        raise Unprocessable(
            gettext(
                "page %(page)s is out of range: this presentation has pages 1 to %(count)s",
                page=page,
                count=page_count,
            ),
            code="page_out_of_range",
            details={"page_count": page_count},
        )


def present(actor: User, schedule_id: int, slide_id: int | None, page: int = 1) -> dict[str, Any]:
    """Show a slide deck of the class (slide_id) or the blank board (None) at `page`
    (teacher or admin)."""
    schedule = require_panel_access(actor, schedule_id)
    access.require_class_manager(actor, schedule.klass)
    row = _row(schedule.id, lock=True)
    if slide_id is not None:
        _check_page(page, _slide_of_class(schedule, slide_id).page_count)
    else:
        _check_page(page, min((row.board_pages if row else 1) + 1, MAX_BOARD_PAGES))
    if row is None:
        row = LivePresentation(schedule_id=schedule.id, board_pages=1, co_presenting=False)
        db.session.add(row)
    row.slide_id, row.page = slide_id, page
    if slide_id is None:
        row.board_pages = max(row.board_pages or 1, page)
    _changed(row, actor)
    db.session.flush()
    return _announce_state(schedule, row)


def turn_page(actor: User, schedule_id: int, page: int) -> dict[str, Any]:
    """Go to `page` of what is presented. On the blank board, the page after the last one
    adds a new blank page."""
    schedule, row = _presenting(actor, schedule_id, "turn pages", lock=True)
    if row.slide_id is None:
        _check_page(page, min(row.board_pages + 1, MAX_BOARD_PAGES))
        row.board_pages = max(row.board_pages, page)
    else:
        _check_page(page, _page_count(row))
    row.page = page
    _changed(row, actor)
    db.session.flush()
    return _announce_state(schedule, row)


def set_co_presenting(actor: User, schedule_id: int, allowed: bool) -> dict[str, Any]:
    """Let students who hold the floor turn pages and draw, or stop them (teacher)."""
    schedule = require_panel_access(actor, schedule_id)
    access.require_class_manager(actor, schedule.klass)
    row = _row(schedule.id, lock=True)
    if row is None:
        raise Conflict("present something first", code="not_presenting")
    row.co_presenting = bool(allowed)
    _changed(row, actor)
    db.session.flush()
    return _announce_state(schedule, row)


def deck_deleted(actor: User, slide: Slide) -> None:
    """Before `slide` is deleted: the rooms presenting it show the blank board's first page,
    changed and announced as any change, rather than left to the foreign key (SET NULL),
    which would keep the deck's page number on the board and tell no one."""
    rows = db.session.execute(
        db.select(LivePresentation).filter_by(slide_id=slide.id).with_for_update()
    ).scalars()
    for row in list(rows):
        row.slide_id, row.page = None, 1
        _changed(row, actor)
        db.session.flush()
        _announce_state(db.session.get_one(Schedule, row.schedule_id), row)


def has_own_presentation(schedule: Schedule) -> bool:
    """Whether the occurrence's meeting backend shows slides and a whiteboard itself
    (capabilities.presentation, e.g. BigBlueButton): then the room shows no portal viewer."""
    from portal.core.backends import backend_plugin, config_for_class

    try:
        meeting = db.session.execute(
            db.select(Meeting).filter_by(schedule_id=schedule.id)
        ).scalar_one_or_none()
        name = meeting.backend if meeting is not None else config_for_class(schedule.klass).backend
        return bool(getattr(backend_plugin(name).capabilities, "presentation", False))
    except PortalError:
        return False


# --- strokes ----------------------------------------------------------------------------


def _stroke_dict(stroke: BoardStroke) -> dict[str, Any]:
    return {
        "id": stroke.id,
        "user_id": stroke.user_id,
        "slide_id": stroke.slide_id,
        "page": stroke.page,
        **stroke.data,
    }


def _strokes_query(schedule_id: int, slide_id: int | None, page: int) -> Any:
    surface = (
        BoardStroke.slide_id.is_(None) if slide_id is None else BoardStroke.slide_id == slide_id
    )
    return db.select(BoardStroke).where(
        BoardStroke.schedule_id == schedule_id, surface, BoardStroke.page == page
    )


def _strokes_of(schedule_id: int, slide_id: int | None, page: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        _strokes_query(schedule_id, slide_id, page).order_by(BoardStroke.id)
    ).scalars()
    return [_stroke_dict(s) for s in rows]


def list_strokes(
    actor: User, schedule_id: int, slide_id: int | None, page: int
) -> list[dict[str, Any]]:
    """The strokes drawn on one page (a slide page, or a board page when slide_id is None)."""
    schedule = require_panel_access(actor, schedule_id)
    if slide_id is not None:
        _slide_of_class(schedule, slide_id)
    return _strokes_of(schedule.id, slide_id, page)


def _number(value: Any, low: float, high: float, field: str) -> float:
    """`field` is "width" or "coordinate": each has its own whole sentences, since a field
    name glued into a sentence would stay English."""
    width = field == "width"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        message = (
            gettext("the stroke's width must be a number")
            if width
            else gettext("a point's coordinate must be a number")
        )
        raise ValidationFailed(message, code="invalid_stroke")
    if not low <= value <= high:
        message = (
            gettext("the stroke's width must be between %(low)s and %(high)s", low=low, high=high)
            if width
            else gettext(
                "a point's coordinate must be between %(low)s and %(high)s", low=low, high=high
            )
        )
        raise ValidationFailed(message, code="invalid_stroke")
    return float(value)


def validate_stroke(raw: Any) -> dict[str, Any]:
    """The stored form of a stroke message, or a clear error: at most MAX_STROKE_BYTES of
    JSON, a known tool, a #rrggbb colour, a width relative to the page width, and 1 to
    MAX_POINTS points [x, y] in 0..1 (shapes: 2; text: 1 and its text)."""
    try:
        size = len(json.dumps(raw, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("a stroke must be a JSON object", code="invalid_stroke") from exc
    if size > MAX_STROKE_BYTES:
        raise TooLarge(
            gettext(
                "this stroke is %(size)s bytes; a stroke message may be at most %(max)s bytes",
                size=size,
                max=MAX_STROKE_BYTES,
            ),
            code="stroke_too_large",
        )
    if not isinstance(raw, dict):
        raise ValidationFailed("a stroke must be a JSON object", code="invalid_stroke")
    tool = raw.get("tool")
    if tool not in TOOLS:
        raise ValidationFailed(
            gettext("tool must be one of %(tools)s", tools=", ".join(TOOLS)), code="invalid_stroke"
        )
    colour = raw.get("color")
    if not isinstance(colour, str) or not COLOUR.match(colour):
        raise ValidationFailed("color must look like #1f6feb", code="invalid_stroke")
    width = _number(raw.get("width"), MIN_WIDTH, MAX_WIDTH, "width")
    points = raw.get("points")
    if not isinstance(points, list) or not points:
        raise ValidationFailed("points must be a list of [x, y] pairs", code="invalid_stroke")
    if len(points) > MAX_POINTS:
        raise ValidationFailed(
            gettext(
                "a stroke may have at most %(max)s points, not %(count)s",
                max=MAX_POINTS,
                count=len(points),
            ),
            code="too_many_points",
        )
    clean = []
    for point in points:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ValidationFailed("each point must be [x, y]", code="invalid_stroke")
        clean.append([round(_number(v, 0.0, 1.0, "coordinate"), 5) for v in point])
    if tool in TWO_POINT_TOOLS and len(clean) != 2:
        raise ValidationFailed(
            gettext("a %(tool)s has exactly two points", tool=tool), code="invalid_stroke"
        )
    out: dict[str, Any] = {"tool": tool, "color": colour.lower(), "width": width, "points": clean}
    if tool == "text":
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise ValidationFailed(
                gettext("a text needs 1 to %(max)s characters", max=MAX_TEXT),
                code="invalid_stroke",
            )
        out["points"] = clean[:1]
        out["text"] = text
    return out


def _presenting(
    actor: User, schedule_id: int, action: str, *, lock: bool = False
) -> tuple[Schedule, LivePresentation]:
    """The occurrence and its presentation, if the actor may `action` (turn pages, draw)."""
    schedule = require_panel_access(actor, schedule_id)
    row = _row(schedule.id, lock=lock)
    if not may_present(actor, schedule, row):
        raise Forbidden(
            gettext(
                "only the teacher, or a student with the floor whom the teacher lets "
                "co-present, may %(action)s",
                action=action,
            ),
            code="not_presenter",
        )
    if row is None:
        raise Conflict("nothing is being presented", code="not_presenting")
    return schedule, row


def _drawable(actor: User, schedule_id: int) -> tuple[Schedule, LivePresentation]:
    return _presenting(actor, schedule_id, "draw")


def _check_surface(row: LivePresentation, slide_id: Any, page: Any) -> None:
    """A stroke is drawn on the page shown when it was drawn; if the page has turned since,
    it is refused rather than put on another page."""
    if slide_id is not None and (isinstance(slide_id, bool) or not isinstance(slide_id, int)):
        raise ValidationFailed("slide_id must be a number or null", code="invalid_stroke")
    if page is not None and (row.slide_id != slide_id or row.page != page):
        raise Conflict("the page has changed since this stroke was drawn", code="page_changed")


def add_stroke(actor: User, schedule_id: int, raw: Any) -> dict[str, Any]:
    """Store a stroke on the current page and push it to the room. `raw` may name the page
    it was drawn on (slide_id, page)."""
    stroke = validate_stroke(raw)
    schedule, row = _drawable(actor, schedule_id)
    _check_surface(row, raw.get("slide_id"), raw.get("page"))
    count = db.session.execute(
        _strokes_query(schedule.id, row.slide_id, row.page)
        .with_only_columns(db.func.count(BoardStroke.id))
        .order_by(None)
    ).scalar_one()
    if count >= MAX_STROKES_PER_PAGE:
        raise Conflict(
            gettext(
                "this page has %(max)s strokes already; clear it or turn the page",
                max=MAX_STROKES_PER_PAGE,
            ),
            code="page_full",
        )
    saved = BoardStroke(
        schedule_id=schedule.id,
        slide_id=row.slide_id,
        page=row.page,
        user_id=actor.id,
        data=stroke,
        created_at=utcnow(),
    )
    db.session.add(saved)
    db.session.flush()
    out = _stroke_dict(saved)
    live_state.publish(
        "board:stroke",
        {"schedule_id": schedule.id, "stroke": out},
        schedule_id=schedule.id,
        audience="room",
    )
    return out


def _remove(schedule: Schedule, strokes: list[BoardStroke], row: LivePresentation) -> list[int]:
    ids = [s.id for s in strokes]
    for s in strokes:
        db.session.delete(s)
    db.session.flush()
    live_state.publish(
        "board:erased",
        {"schedule_id": schedule.id, "slide_id": row.slide_id, "page": row.page, "stroke_ids": ids},
        schedule_id=schedule.id,
        audience="room",
    )
    return ids


def erase_stroke(actor: User, schedule_id: int, stroke_id: int) -> list[int]:
    """The eraser removes a whole stroke of the current page: the teacher's anyone's, a
    co-presenting student's only their own."""
    schedule, row = _drawable(actor, schedule_id)
    stroke = db.session.get(BoardStroke, stroke_id)
    if (
        stroke is None
        or stroke.schedule_id != schedule.id
        or stroke.slide_id != row.slide_id
        or stroke.page != row.page
    ):
        raise NotFound("no such stroke on this page")
    if stroke.user_id != actor.id and not is_manager(actor, schedule):
        raise Forbidden("you may erase only your own strokes", code="not_your_stroke")
    return _remove(schedule, [stroke], row)


def undo(actor: User, schedule_id: int) -> list[int]:
    """Remove the actor's own last stroke on the current page."""
    schedule, row = _drawable(actor, schedule_id)
    last = db.session.execute(
        _strokes_query(schedule.id, row.slide_id, row.page)
        .where(BoardStroke.user_id == actor.id)
        .order_by(BoardStroke.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is None:
        raise Conflict("you have drawn nothing on this page to undo", code="nothing_to_undo")
    return _remove(schedule, [last], row)


def clear_page(actor: User, schedule_id: int) -> int:
    """Remove every stroke of the current page (teacher). Returns how many went."""
    schedule = require_panel_access(actor, schedule_id)
    access.require_class_manager(actor, schedule.klass)
    row = _row(schedule.id)
    if row is None:
        raise Conflict("nothing is being presented", code="not_presenting")
    result = db.session.execute(
        db.delete(BoardStroke)
        .where(
            BoardStroke.schedule_id == schedule.id,
            BoardStroke.slide_id.is_(None)
            if row.slide_id is None
            else BoardStroke.slide_id == row.slide_id,
            BoardStroke.page == row.page,
        )
        .execution_options(synchronize_session=False)
    )
    live_state.publish(
        "board:cleared",
        {"schedule_id": schedule.id, "slide_id": row.slide_id, "page": row.page},
        schedule_id=schedule.id,
        audience="room",
    )
    return rows_matched(result)


# --- page images ------------------------------------------------------------------------


def snap_width(width: int | None) -> int:
    """The rendered width serving a request for `width` pixels."""
    if not width:
        return PAGE_WIDTHS[1]
    return next((w for w in PAGE_WIDTHS if w >= width), PAGE_WIDTHS[-1])


def _content_hash(slide: Slide, data: bytes | None = None) -> str:
    if slide.content_sha256:
        return slide.content_sha256
    return hashlib.sha256(
        data if data is not None else storage.read_bytes(slide.storage_key)
    ).hexdigest()


def _render(pdf: bytes, page: int, width: int) -> bytes:
    import pypdfium2

    with _PDFIUM_LOCK:
        document = pypdfium2.PdfDocument(pdf)
        try:
            pdf_page = document[page - 1]
            scale = width / pdf_page.get_width()
            image = pdf_page.render(scale=scale).to_pil().convert("RGB")
        finally:
            document.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _cached_page(slide: Slide, page: int, width: int) -> tuple[bytes, str]:
    digest = _content_hash(slide)
    key = f"slide-pages/{digest}/{page}-{width}.png"
    store = storage.get_storage()
    try:
        return store.read(key), digest
    except NotFound:
        pass
    image = _render(store.read(slide.storage_key), page, width)
    store.save(key, image, "image/png")
    return image, digest


def page_image(actor: User, slide_id: int, page: int, width: int | None) -> tuple[bytes, str]:
    """One page of a class's slide deck as PNG (members only), and its ETag."""
    slide = db.session.get(Slide, slide_id)
    if slide is None:
        raise NotFound("no such slide deck")
    klass = access.get_class_for(actor, slide.class_id)  # 404 for non-members
    if not access.can_manage_class(actor, klass):
        access.require_not_blocked(actor, klass.id)
    _check_page(page, slide.page_count)
    size = snap_width(width)
    image, digest = _cached_page(slide, page, size)
    return image, f"{digest[:32]}-{page}-{size}"


# --- the annotated export ---------------------------------------------------------------


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def draw_strokes(image: Any, strokes: list[dict[str, Any]]) -> Any:
    """The page image with the strokes painted on it (Pillow), as the room's board paints
    them: widths and text sizes relative to the page width."""
    from PIL import Image, ImageDraw, ImageFont

    base = image.convert("RGBA")
    w, h = base.size
    for stroke in strokes:
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        alpha = HIGHLIGHTER_ALPHA if stroke["tool"] == "highlighter" else 255
        fill = (*_rgb(stroke["color"]), alpha)
        line = max(1, round(stroke["width"] * w * (3 if stroke["tool"] == "highlighter" else 1)))
        xy = [(x * w, y * h) for x, y in stroke["points"]]
        tool = stroke["tool"]
        if tool in ("pen", "highlighter"):
            if len(xy) == 1:
                (x, y), r = xy[0], line / 2
                draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
            else:
                draw.line(xy, fill=fill, width=line, joint="curve")
        elif tool == "line":
            draw.line(xy, fill=fill, width=line)
        elif tool in ("rect", "ellipse"):
            (x0, y0), (x1, y1) = xy
            box = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
            shape = draw.rectangle if tool == "rect" else draw.ellipse
            shape(box, outline=fill, width=line)
        elif tool == "text":
            font = ImageFont.load_default(size=max(10, line * TEXT_SIZE_FACTOR))
            draw.text(xy[0], stroke["text"], fill=fill, font=font, anchor="ls")
        base = Image.alpha_composite(base, layer)
    return base.convert("RGB")


def export_pdf(actor: User, schedule_id: int) -> tuple[bytes, str]:
    """The occurrence's presented decks, every page with its strokes, then its blank-board
    pages, as one PDF (teacher). During and after the class."""
    from PIL import Image

    schedule = require_panel_access(actor, schedule_id)
    access.require_class_manager(actor, schedule.klass)
    row = _row(schedule.id)
    stroke_rows = list(
        db.session.execute(
            db.select(BoardStroke)
            .where(BoardStroke.schedule_id == schedule.id)
            .order_by(BoardStroke.id)
        ).scalars()
    )
    by_surface: dict[tuple[int | None, int], list[dict[str, Any]]] = {}
    for s in stroke_rows:
        by_surface.setdefault((s.slide_id, s.page), []).append(s.data)
    deck_ids = {s.slide_id for s in stroke_rows if s.slide_id is not None}
    if row is not None and row.slide_id is not None:
        deck_ids.add(row.slide_id)
    decks = sorted(
        (db.session.get_one(Slide, i) for i in deck_ids), key=lambda d: (d.position, d.id)
    )
    board_used = (row is not None and row.slide_id is None) or any(
        slide_id is None for slide_id, _ in by_surface
    )
    board_pages = 0
    if board_used:
        board_pages = max([row.board_pages if row else 1] + [p for d, p in by_surface if d is None])
    if not decks and not board_pages:
        raise NotFound("nothing was presented in this class", code="nothing_presented")
    pages: list[Any] = []
    for deck in decks:
        for page in range(1, deck.page_count + 1):
            png, _ = _cached_page(deck, page, EXPORT_WIDTH)
            image = Image.open(io.BytesIO(png))
            pages.append(draw_strokes(image, by_surface.get((deck.id, page), [])))
    for page in range(1, board_pages + 1):
        blank = Image.new("RGB", (EXPORT_WIDTH, round(EXPORT_WIDTH * BOARD_ASPECT)), "white")
        pages.append(draw_strokes(blank, by_surface.get((None, page), [])))
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=150)
    filename = f"annotated-{schedule.class_id}-{schedule.id}-{schedule.starts_at:%Y%m%d}.pdf"
    return out.getvalue(), filename


def presented_schedule_ids(schedule_ids: list[int]) -> set[int]:
    """Which of these occurrences have something presented or drawn (the class page links
    their annotated export)."""
    if not schedule_ids:
        return set()
    shown = db.session.execute(
        db.select(LivePresentation.schedule_id).where(
            LivePresentation.schedule_id.in_(schedule_ids)
        )
    ).scalars()
    drawn = db.session.execute(
        db.select(BoardStroke.schedule_id)
        .where(BoardStroke.schedule_id.in_(schedule_ids))
        .distinct()
    ).scalars()
    return set(shown) | set(drawn)
