"""The uniform recordings list, whatever backend made them, and the teacher's controls.

Students see only published recordings of classes they are enrolled in (and are not
blocked from). Publishing and deleting go to the backend first, so the portal never
claims a state the backend's own playback server does not have.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from portal.core import access, audit, storage
from portal.core.backends import backend_plugin, call_backend
from portal.core.errors import NotFound
from portal.core.models import BackendConfig, Class, Enrolment, Meeting, Recording, Role, User
from portal.core.slides import DownloadLink, link_for
from portal.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingView:
    id: int
    class_id: int
    class_title: str
    schedule_id: int | None
    backend: str
    title: str
    recorded_at: datetime | None
    duration_seconds: int | None
    playback_url: str | None
    has_file: bool
    format: str | None
    preview_images: list[str]
    published: bool


def _view(row: Recording, klass: Class, schedule_id: int | None) -> RecordingView:
    return RecordingView(
        id=row.id,
        class_id=row.class_id,
        class_title=klass.title,
        schedule_id=schedule_id,
        backend=row.backend,
        title=row.title,
        recorded_at=row.recorded_at,
        duration_seconds=row.duration_seconds,
        playback_url=row.playback_url,
        has_file=bool(row.storage_key),
        format=row.format,
        preview_images=list(row.preview_images or []),
        published=row.published,
    )


def _query(class_ids: list[int] | None, published_only: bool) -> list[RecordingView]:
    stmt = (
        db.select(Recording, Class, Meeting.schedule_id)
        .join(Class, Class.id == Recording.class_id)
        .outerjoin(Meeting, Meeting.id == Recording.meeting_id)
    )
    if class_ids is not None:
        if not class_ids:
            return []
        stmt = stmt.where(Recording.class_id.in_(class_ids))
    if published_only:
        stmt = stmt.where(Recording.published.is_(True))
    stmt = stmt.order_by(Recording.recorded_at.desc().nulls_last(), Recording.id.desc()).limit(500)
    return [_view(rec, klass, schedule_id) for rec, klass, schedule_id in db.session.execute(stmt)]


def list_for_class(actor: User, class_id: int) -> list[RecordingView]:
    klass = access.get_class_for(actor, class_id)
    manager = access.can_manage_class(actor, klass)
    if not manager:
        access.require_not_blocked(actor, klass.id)
    return _query([klass.id], published_only=not manager)


def list_for_user(actor: User) -> list[RecordingView]:
    """Everything the actor may watch: students their enrolled classes' published recordings,
    teachers all recordings of their classes, admins everything."""
    if actor.is_admin:
        return _query(None, published_only=False)
    if actor.role == Role.TEACHER.value:
        ids = list(
            db.session.execute(db.select(Class.id).where(Class.teacher_id == actor.id)).scalars()
        )
        return _query(ids, published_only=False)
    if access.active_block(actor) is not None:
        return []
    ids = list(
        db.session.execute(
            db.select(Enrolment.class_id).where(Enrolment.user_id == actor.id)
        ).scalars()
    )
    ids = [cid for cid in ids if access.active_block(actor, cid) is None]
    return _query(ids, published_only=True)


def list_for_student(actor: User, user_id: int) -> list[RecordingView]:
    """What a given user may watch: for themselves, or for an admin checking on them."""
    if actor.id != user_id:
        access.require_admin(actor)
    target = db.session.get(User, user_id)
    if target is None:
        raise NotFound("no such user")
    return list_for_user(target)


def get_recording_for(actor: User, recording_id: int) -> Recording:
    """The recording if the actor may see it; 404 otherwise (unpublished ones stay hidden)."""
    row = db.session.get(Recording, recording_id)
    if row is None:
        raise NotFound("no such recording")
    klass = access.get_class_for(actor, row.class_id)
    if not access.can_manage_class(actor, klass):
        if not row.published:
            raise NotFound("no such recording")
        access.require_not_blocked(actor, klass.id)
    return row


def view_of(row: Recording) -> RecordingView:
    klass = db.session.get_one(Class, row.class_id)
    meeting = db.session.get(Meeting, row.meeting_id) if row.meeting_id else None
    return _view(row, klass, meeting.schedule_id if meeting else None)


def download_recording(actor: User, recording_id: int) -> DownloadLink:
    row = get_recording_for(actor, recording_id)
    if not row.storage_key:
        raise NotFound("this recording has no stored file; use its playback URL", code="no_file")
    extension = row.storage_key.rsplit(".", 1)[-1]
    return link_for(row.storage_key, f"{row.title or 'recording'}.{extension}")


def _backend_call(row: Recording, action: str, *args) -> None:
    """Run publish/delete on the backend that holds the recording, mapping its errors."""
    config = db.session.get(BackendConfig, row.backend_config_id) if row.backend_config_id else None
    if config is None:
        # The backend configuration was removed: only the portal's row is left to change.
        log.info("recording %s has no backend configuration; changing the portal row only", row.id)
        return
    plugin = backend_plugin(row.backend)  # 503 when the plugin was uninstalled
    if getattr(plugin, f"{action}_recording", None) is None:
        log.info(
            "backend %s has no %s_recording; changing the portal row only", row.backend, action
        )
        return
    call_backend(
        config,
        f"{action} the recording",
        lambda plugin, settings: getattr(plugin, f"{action}_recording")(
            settings, row.backend_record_id, *args
        ),
        backend=row.backend,
    )


def set_published(actor: User, recording_id: int, published: bool) -> Recording:
    row = db.session.get(Recording, recording_id)
    if row is None:
        raise NotFound("no such recording")
    klass = access.get_class_for(actor, row.class_id)
    access.require_class_manager(actor, klass)
    if row.published != published:
        _backend_call(row, "publish", published)
        row.published = published
        audit.record(
            actor, "recording.publish" if published else "recording.unpublish", "recording", row.id
        )
    return row


def delete_recording(actor: User, recording_id: int) -> None:
    row = db.session.get(Recording, recording_id)
    if row is None:
        raise NotFound("no such recording")
    klass = access.get_class_for(actor, row.class_id)
    access.require_class_manager(actor, klass)
    _backend_call(row, "delete")
    audit.record(
        actor,
        "recording.delete",
        "recording",
        row.id,
        backend=row.backend,
        backend_record_id=row.backend_record_id,
    )
    storage.delete_row_and_file(row, row.storage_key)
