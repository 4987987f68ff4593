"""The recording page: a player for the stored file (or the backend's playback link), a
download, and the teacher's visibility and share-link controls. Shared links open the same
page without signing in."""

from __future__ import annotations

from flask import current_app, render_template

from portal.core import access, recordings
from portal.core.models import Class, Recording, User
from portal.extensions import db
from portal.web.pages import web
from portal.web.session import current_browser_user
from portal.web.support import page


def _same_origin(url: str) -> str:
    """A local download link as a path, so the player loads it from the page's own origin
    (the page's media-src policy) whatever address BASE_URL names."""
    base = str(current_app.config.get("BASE_URL") or "").rstrip("/")
    return url[len(base) :] if base and url.startswith(base + "/files/") else url


def _render(row: Recording, user: User | None, shared: bool) -> str:
    klass = db.session.get_one(Class, row.class_id)
    file_url = None
    if row.storage_key:
        file_url = _same_origin(recordings.file_link(row).url)
    return render_template(
        "recordings/watch.html",
        user=user,
        recording=recordings.view_of(row),
        klass=klass,
        file_url=file_url,
        shared=shared,
        manager=user is not None and not shared and access.can_manage_class(user, klass),
        visibilities=recordings.VISIBILITIES,
    )


@web.get("/recordings/<int:recording_id>")
@page()
def recording_page(user: User, recording_id: int) -> str:
    return _render(recordings.get_recording_for(user, recording_id), user, shared=False)


@web.get("/watch/<token>")
def shared_recording_page(token: str) -> str:
    return _render(recordings.get_shared_recording(token), current_browser_user(), shared=True)
