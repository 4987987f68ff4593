"""The uniform recordings list, whatever backend made them, who may watch each one, and the
teacher's controls.

Who may watch a recording is its visibility (RecordingVisibility, narrowest first):
`teachers` (the class's teacher and administrators), `members` (plus its enrolled students),
`link` (plus anyone holding the recording's share link) and `published` (all of the above,
and listed on the class's recordings list for its members). Every listing, page, download
and playback path of every backend asks this module, so the rule lives here once. Blocked
students watch nothing of the class. Changing visibility and deleting go to the backend first,
so the portal never claims a state the backend's own playback server does not have.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from portal.core import access, audit, storage
from portal.core.backends import backend_plugin, call_backend
from portal.core.errors import NotFound, ValidationFailed
from portal.core.models import (
    BackendConfig,
    Class,
    Enrolment,
    Meeting,
    Recording,
    RecordingVisibility,
    Role,
    User,
)
from portal.core.settings import get_setting
from portal.core.slides import DownloadLink, link_for
from portal.extensions import db
from portal.i18n import gettext

log = logging.getLogger(__name__)

VISIBILITIES = [v.value for v in RecordingVisibility]  # narrowest first
DEFAULT_VISIBILITY = RecordingVisibility.PUBLISHED.value
SHARE_TOKEN_BYTES = 32  # 256 random bits; only their sha256 is stored


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
    visibility: str
    published: bool
    has_share_link: bool


@dataclass(frozen=True)
class ShareLink:
    """A recording's new share link: shown once, since only the token's hash is kept."""

    recording_id: int
    token: str
    url: str


def _rank(visibility: str) -> int:
    return VISIBILITIES.index(visibility) if visibility in VISIBILITIES else 0


def at_least(row: Recording, visibility: RecordingVisibility) -> bool:
    """Whether the recording is visible at least as widely as `visibility`."""
    return _rank(row.visibility) >= _rank(visibility.value)


def check_visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise ValidationFailed(
            gettext("visibility must be one of %(values)s", values=", ".join(VISIBILITIES)),
            code="invalid_visibility",
        )
    return value


def default_visibility() -> str:
    """The site's default visibility of new recordings (the admin's site setting)."""
    value = get_setting("recording_visibility")
    return value if value in VISIBILITIES else DEFAULT_VISIBILITY


def initial_visibility(backend_published: bool) -> str:
    """A new recording's visibility: the site default, or teachers only when its backend
    reports it unpublished (nobody else could play it there)."""
    return default_visibility() if backend_published else RecordingVisibility.TEACHERS.value


def backend_published(visibility: str) -> bool:
    """What a backend with its own publish switch (BBB) is told: published unless only
    teachers may watch, so members and link holders can play what the portal lets them see."""
    return visibility != RecordingVisibility.TEACHERS.value


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
        visibility=row.visibility,
        published=row.published,
        has_share_link=bool(row.share_token_hash),
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
        stmt = stmt.where(Recording.visibility == RecordingVisibility.PUBLISHED.value)
    stmt = stmt.order_by(Recording.recorded_at.desc().nulls_last(), Recording.id.desc()).limit(500)
    return [_view(rec, klass, schedule_id) for rec, klass, schedule_id in db.session.execute(stmt)]


def list_for_class(actor: User, class_id: int) -> list[RecordingView]:
    """The class's recordings list: all of them for its managers, the published ones for
    its members."""
    klass = access.get_class_for(actor, class_id)
    manager = access.can_manage_class(actor, klass)
    if not manager:
        access.require_not_blocked(actor, klass.id)
    return _query([klass.id], published_only=not manager)


def list_for_user(actor: User) -> list[RecordingView]:
    """Everything listed for the actor: students their enrolled classes' published recordings,
    teachers all recordings of their classes, admins everything."""
    if actor.is_admin:
        return _query(None, published_only=False)
    if actor.role == Role.TEACHER.value:
        ids = list(
            db.session.execute(
                db.select(Class.id).where(access.staffed_by(actor.id, assistants=False))
            ).scalars()
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
    """The recording if the actor may watch it; 404 otherwise (hidden ones stay unseen)."""
    row = db.session.get(Recording, recording_id)
    if row is None:
        raise NotFound("no such recording")
    klass = access.get_class_for(actor, row.class_id)
    if not access.can_manage_class(actor, klass):
        if not at_least(row, RecordingVisibility.MEMBERS):
            raise NotFound("no such recording")
        access.require_not_blocked(actor, klass.id)
    return row


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_shared_recording(token: str) -> Recording:
    """The recording a share link opens: 404 for a revoked or unknown link, or once the
    teacher narrowed the recording below `link`."""
    row = None
    if token and len(token) <= 200:
        row = db.session.execute(
            db.select(Recording).filter_by(share_token_hash=_token_hash(token))
        ).scalar_one_or_none()
    if row is None or not at_least(row, RecordingVisibility.LINK):
        raise NotFound("this recording link is invalid or was revoked", code="link_revoked")
    return row


def view_of(row: Recording) -> RecordingView:
    klass = db.session.get_one(Class, row.class_id)
    meeting = db.session.get(Meeting, row.meeting_id) if row.meeting_id else None
    return _view(row, klass, meeting.schedule_id if meeting else None)


def file_link(row: Recording) -> DownloadLink:
    """The stored file's time-limited link, for a row already opened through
    get_recording_for or get_shared_recording."""
    if not row.storage_key:
        raise NotFound("this recording has no stored file; use its playback URL", code="no_file")
    extension = row.storage_key.rsplit(".", 1)[-1]
    return link_for(row.storage_key, f"{row.title or 'recording'}.{extension}")


def download_recording(actor: User, recording_id: int) -> DownloadLink:
    from portal.core.privacy import access_log

    link = file_link(get_recording_for(actor, recording_id))
    audit.record(actor, access_log.RECORDING_DOWNLOAD, "recording", recording_id)
    return link


def download_shared(token: str) -> DownloadLink:
    from portal.core.privacy import access_log

    row = get_shared_recording(token)
    link = file_link(row)
    audit.record(None, access_log.RECORDING_DOWNLOAD, "recording", row.id, shared_link=True)
    return link


def _backend_call(row: Recording, action: str, *args: Any) -> None:
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
        f"{action} the recording",  # publish, delete: keys of backends.REFUSALS
        lambda plugin, settings: getattr(plugin, f"{action}_recording")(
            settings, row.backend_record_id, *args
        ),
        backend=row.backend,
    )


def _managed(actor: User, recording_id: int) -> Recording:
    """The recording if the actor manages its class: 404 outside the class, 403 for members."""
    row = db.session.get(Recording, recording_id)
    if row is None:
        raise NotFound("no such recording")
    klass = access.get_class_for(actor, row.class_id)
    access.require_class_manager(actor, klass)
    return row


def _new_share_token(row: Recording) -> ShareLink:
    token = secrets.token_urlsafe(SHARE_TOKEN_BYTES)
    row.share_token_hash = _token_hash(token)
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    return ShareLink(recording_id=row.id, token=token, url=f"{base}/watch/{token}")


def set_visibility(
    actor: User, recording_id: int, visibility: str
) -> tuple[Recording, ShareLink | None]:
    """Change who may watch (class teacher or admin). Returns the new share link when this
    change to `link` or wider made the recording's first one."""
    visibility = check_visibility(visibility)
    row = _managed(actor, recording_id)
    link = None
    if row.visibility != visibility:
        if backend_published(row.visibility) != backend_published(visibility):
            _backend_call(row, "publish", backend_published(visibility))
        audit.record(
            actor,
            "recording.visibility",
            "recording",
            row.id,
            before=row.visibility,
            after=visibility,
        )
        row.visibility = visibility
    if at_least(row, RecordingVisibility.LINK) and row.share_token_hash is None:
        link = _new_share_token(row)
    return row, link


def set_published(actor: User, recording_id: int, published: bool) -> Recording:
    """The older switch: published, or teachers only."""
    visibility = RecordingVisibility.PUBLISHED if published else RecordingVisibility.TEACHERS
    return set_visibility(actor, recording_id, visibility.value)[0]


def renew_share_link(actor: User, recording_id: int) -> ShareLink:
    """A new share link (class teacher or admin); the previous one stops working at once."""
    row = _managed(actor, recording_id)
    if not at_least(row, RecordingVisibility.LINK):
        raise ValidationFailed(
            "set the recording's visibility to 'link' before sharing it by link",
            code="visibility_not_link",
        )
    audit.record(actor, "recording.share_link", "recording", row.id)
    return _new_share_token(row)


def revoke_share_link(actor: User, recording_id: int) -> Recording:
    """No share link any more (class teacher or admin): every link given out stops working."""
    row = _managed(actor, recording_id)
    if row.share_token_hash is not None:
        row.share_token_hash = None
        audit.record(actor, "recording.share_link_revoke", "recording", row.id)
    return row


def delete_recording(actor: User, recording_id: int) -> None:
    row = _managed(actor, recording_id)
    audit.record(
        actor,
        "recording.delete",
        "recording",
        row.id,
        backend=row.backend,
        backend_record_id=row.backend_record_id,
    )
    purge(row)


def purge(row: Recording) -> None:
    """Delete a recording everywhere: on its backend, its stored file, its row (retention).
    Raises the backend's error (a PortalError) and then changes nothing."""
    _backend_call(row, "delete")
    storage.delete_row_and_file(row, row.storage_key)
