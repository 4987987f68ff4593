"""Files shared during a class (PDFs, images, other configured types).

Only members of the class who are not blocked there may upload, list or download; the
type is detected from the content and must be in MEDIA_ALLOWED_TYPES.
"""

from __future__ import annotations

from flask import current_app

from portal.core import access, audit, live_state, storage, uploads
from portal.core.errors import NotFound, ValidationFailed
from portal.core.models import Media, Schedule, User
from portal.core.slides import DownloadLink, link_for
from portal.extensions import db
from portal.i18n import gettext


def allowed_media_types() -> set[str]:
    return uploads.allowed_types(current_app.config.get("MEDIA_ALLOWED_TYPES"))


def upload_media(
    actor: User, class_id: int, filename: str | None, data: bytes, schedule_id: int | None = None
) -> Media:
    klass = access.get_class_for(actor, class_id)
    access.require_not_blocked(actor, klass.id)
    if schedule_id is not None:
        schedule = db.session.get(Schedule, schedule_id)
        if schedule is None or schedule.class_id != klass.id:
            raise ValidationFailed(
                "schedule_id is not an occurrence of this class", code="invalid_schedule"
            )
    uploads.check_size(data, int(current_app.config["MEDIA_MAX_BYTES"]), "file")
    mime = uploads.sniff_type(data)
    allowed = allowed_media_types()
    if mime is None or mime not in allowed:
        kinds = ", ".join(sorted(allowed))
        raise ValidationFailed(
            gettext(
                "this file is %(type)s (detected from its content); allowed: %(allowed)s",
                type=mime,
                allowed=kinds,
            )
            if mime
            else gettext(
                "this file is of an unrecognised type (detected from its content); "
                "allowed: %(allowed)s",
                allowed=kinds,
            ),
            code="type_not_allowed",
        )
    if mime == "application/pdf":
        uploads.validate_pdf(data, max_pages=int(current_app.config["SLIDE_MAX_PAGES"]))
    elif mime in uploads.IMAGE_TYPES:
        uploads.validate_image(data, mime)
    extension = uploads.EXTENSIONS.get(mime, "bin")
    key = storage.new_key(f"media/{klass.id}", extension)
    storage.get_storage().save(key, data, mime)
    item = Media(
        class_id=klass.id,
        schedule_id=schedule_id,
        uploaded_by=actor.id,
        filename=uploads.clean_filename(filename, extension),
        content_type=mime,
        size_bytes=len(data),
        storage_key=key,
    )
    db.session.add(item)
    db.session.flush()
    audit.record(actor, "media.upload", "class", klass.id, media_id=item.id, content_type=mime)
    if schedule_id is not None:
        live_state.publish(
            "media:shared",
            {"schedule_id": schedule_id, "media_id": item.id},
            schedule_id=schedule_id,
        )
    return item


def list_media(actor: User, class_id: int, schedule_id: int | None = None) -> list[Media]:
    klass = access.get_class_for(actor, class_id)
    access.require_not_blocked(actor, klass.id)
    stmt = db.select(Media).filter_by(class_id=klass.id)
    if schedule_id is not None:
        stmt = stmt.filter_by(schedule_id=schedule_id)
    return list(db.session.execute(stmt.order_by(Media.id)).scalars())


def _media_for(actor: User, media_id: int) -> Media:
    item = db.session.get(Media, media_id)
    if item is None:
        raise NotFound("no such file")
    access.get_class_for(actor, item.class_id)
    return item


def download_media(actor: User, media_id: int) -> DownloadLink:
    item = _media_for(actor, media_id)
    access.require_not_blocked(actor, item.class_id)
    return link_for(item.storage_key, item.filename)


def delete_media(actor: User, media_id: int) -> None:
    """The uploader, the class's teacher or an admin removes a file."""
    item = _media_for(actor, media_id)
    klass = access.get_class_for(actor, item.class_id)
    if item.uploaded_by != actor.id:
        access.require_class_manager(actor, klass)
    schedule_id = item.schedule_id
    storage.delete_row_and_file(item, item.storage_key)
    audit.record(actor, "media.delete", "class", klass.id, media_id=media_id)
    if schedule_id is not None:
        live_state.publish(
            "media:removed",
            {"schedule_id": schedule_id, "media_id": media_id},
            schedule_id=schedule_id,
        )
