"""Whiteboard slides: PDFs a teacher uploads per class, in order.

Backends receive them when a class starts (meetings._slide_refs reads these rows, e.g. BBB
preloads them); members download them from the class page.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from portal.core import access, audit, presentations, storage, uploads
from portal.core.errors import NotFound, ValidationFailed
from portal.core.models import Slide, User
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

MAX_SLIDES_PER_CLASS = 50


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime
    filename: str


def link_for(key: str, filename: str) -> DownloadLink:
    seconds = int(current_app.config.get("FILE_LINK_SECONDS") or 300)
    url = storage.get_storage().download_url(key, seconds, filename)
    return DownloadLink(
        url=url, expires_at=utcnow() + timedelta(seconds=seconds), filename=filename
    )


def list_slides(actor: User, class_id: int) -> list[Slide]:
    klass = access.get_class_for(actor, class_id)
    if not access.can_manage_class(actor, klass):
        access.require_not_blocked(actor, klass.id)
    return _ordered(klass.id)


def _ordered(class_id: int) -> list[Slide]:
    return list(
        db.session.execute(
            db.select(Slide).filter_by(class_id=class_id).order_by(Slide.position, Slide.id)
        ).scalars()
    )


def upload_slide(actor: User, class_id: int, filename: str | None, data: bytes) -> Slide:
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    access.require_not_blocked(actor, klass.id)
    config = current_app.config
    uploads.check_size(data, int(config["SLIDE_MAX_BYTES"]), "PDF")
    info = uploads.validate_pdf(data, max_pages=int(config["SLIDE_MAX_PAGES"]))
    existing = _ordered(klass.id)
    if len(existing) >= MAX_SLIDES_PER_CLASS:
        raise ValidationFailed(
            gettext("a class can have at most %(max)s slide decks", max=MAX_SLIDES_PER_CLASS),
            code="too_many_slides",
        )
    key = storage.new_key(f"slides/{klass.id}", "pdf")
    # Store first: a failed store leaves no row pointing at nothing.
    storage.get_storage().save(key, data, "application/pdf")
    slide = Slide(
        class_id=klass.id,
        filename=uploads.clean_filename(filename, "pdf"),
        storage_key=key,
        size_bytes=len(data),
        page_count=info.page_count,
        content_sha256=hashlib.sha256(data).hexdigest(),
        position=(existing[-1].position + 1) if existing else 0,
        uploaded_by=actor.id,
    )
    db.session.add(slide)
    db.session.flush()
    audit.record(actor, "slide.upload", "class", klass.id, slide_id=slide.id, pages=info.page_count)
    return slide


def _slide_for(actor: User, slide_id: int) -> Slide:
    slide = db.session.get(Slide, slide_id)
    if slide is None:
        raise NotFound("no such slide deck")
    access.get_class_for(actor, slide.class_id)  # 404 for non-members
    return slide


def delete_slide(actor: User, slide_id: int) -> None:
    slide = _slide_for(actor, slide_id)
    klass = access.get_class_for(actor, slide.class_id)
    access.require_class_manager(actor, klass)
    presentations.deck_deleted(actor, slide)
    storage.delete_row_and_file(slide, slide.storage_key)
    audit.record(actor, "slide.delete", "class", klass.id, slide_id=slide_id)


def reorder_slides(actor: User, class_id: int, slide_ids: list[int]) -> list[Slide]:
    """Set the order; slide_ids must name every deck of the class exactly once."""
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    slides = {s.id: s for s in _ordered(klass.id)}
    if len(slide_ids) != len(set(slide_ids)) or set(slide_ids) != set(slides):
        raise ValidationFailed(
            "slide_ids must list every slide deck of this class exactly once",
            code="invalid_order",
            details={"expected": sorted(slides)},
        )
    for position, slide_id in enumerate(slide_ids):
        slides[slide_id].position = position
    db.session.flush()
    audit.record(actor, "slide.reorder", "class", klass.id, order=slide_ids)
    return _ordered(klass.id)


def download_slide(actor: User, slide_id: int) -> DownloadLink:
    slide = _slide_for(actor, slide_id)
    access.require_not_blocked(actor, slide.class_id)
    return link_for(slide.storage_key, slide.filename)
