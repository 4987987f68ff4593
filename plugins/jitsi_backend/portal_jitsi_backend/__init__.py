"""Jitsi Meet meeting backend: self-hosted (prosody token auth) or 8x8 JaaS.

Registers the "jitsi" backend, the callback endpoints under /plugins/jitsi, a periodic
retry of JaaS recording downloads, and ends rooms through mod_muc_end_meeting when a
class ends (see docs/jitsi.md).
"""

from __future__ import annotations

import logging

from portal.plugins import BackendError, PeriodicJob, hookimpl, services

from .backend import BACKEND, JitsiBackend

__all__ = ["BACKEND", "JitsiBackend"]

log = logging.getLogger(__name__)


@hookimpl
def register_meeting_backends(register):
    register(BACKEND)


@hookimpl
def register_blueprints(app):
    from .embedding import init_embedding
    from .views import blueprint

    app.register_blueprint(blueprint)
    init_embedding(app)


@hookimpl
def page_csp_sources():
    from .embedding import csp_sources

    return csp_sources()


@hookimpl
def register_periodic_jobs(register):
    from .recordings import retry_pending_downloads

    register(PeriodicJob("jitsi-recording-downloads", 60, retry_pending_downloads))


@hookimpl
def register_commands(cli):
    from .cli import register

    register(cli)


@hookimpl
def class_ended(meeting, klass, schedule):
    """Whoever ended the class (teacher, admin, an emptied room), destroy the Jitsi room
    too when mod_muc_end_meeting is configured; the core already refuses new joins."""
    if meeting.backend != BACKEND.name:
        return
    data = meeting.data
    if not data.get("room_active") and data.get("room_destroyed_at"):
        return  # the room is already gone
    try:
        BACKEND.end_meeting(services.meeting_settings(meeting.id), services.handle_of(meeting))
    except BackendError as exc:
        log.warning("could not end Jitsi room of meeting %s: %s", meeting.id, exc.user_message)
    except Exception:  # an event hook must never break the portal's own end of the class
        log.exception("could not end Jitsi room of meeting %s", meeting.id)


# This plugin's own catalogue (portal.plugins.i18n): its templates and scripts find it.
from portal.plugins.i18n import domain as _domain  # noqa: E402

translations = _domain("portal_jitsi_backend")
