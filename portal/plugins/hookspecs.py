"""The plugin contract. Every hook here is documented in docs/plugins.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from portal.plugins.types import (
        ClassInfo,
        DeliveryResult,
        ErasureItem,
        ExternalIdentity,
        FloorGrant,
        JoinTarget,
        MeetingRecord,
        NotificationRef,
        PageLink,
        RecordingRef,
        ScheduleInfo,
        UserDataSection,
        UserInfo,
    )

hookspec = pluggy.HookspecMarker("portal")
hookimpl = pluggy.HookimplMarker("portal")


# Registration hooks: each receives a `register` callback and calls it once per object.


@hookspec
def register_meeting_backends(register) -> None:
    """Register MeetingBackend objects: register(backend)."""


@hookspec
def register_notifiers(register) -> None:
    """Register Notifier objects: register(notifier). A notifier may also implement
    BatchNotifier (`send_many`) to take a delivery batch over one provider connection."""


@hookspec
def register_auth_providers(register) -> None:
    """Register AuthProvider objects: register(provider)."""


@hookspec
def register_periodic_jobs(register) -> None:
    """Register PeriodicJob objects run by Celery beat or the in-process scheduler."""


@hookspec
def register_migrations(register) -> None:
    """Register the plugin's own Alembic revisions: register(name, folder); tracked in
    the table alembic_version_<name> and applied by `portal db upgrade` after the core's."""


@hookspec
def register_blueprints(app) -> None:
    """Add Flask blueprints (webhooks, WHIP endpoints, SSO pages) to the app."""


@hookspec
def register_api_paths(register) -> None:
    """Describe a plugin's HTTP routes in /api/openapi.json: register(path, path_item)."""


@hookspec
def register_admin_pages(register) -> None:
    """Link the plugin's own admin pages from the administration area: register(AdminPage)."""


@hookspec
def register_commands(cli) -> None:
    """Add click commands or groups to the `portal` command line."""


@hookspec
def page_csp_sources() -> dict[str, list[str]]:
    """Origins the plugin's browser code loads from, per CSP directive, added to every page's
    Content-Security-Policy: {"script-src": [...], "frame-src": [...], "connect-src": [...]}."""
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations


# Privacy: every plugin that keeps data about users answers both (portal/core/privacy).


@hookspec
def class_page_links(klass: ClassInfo, user: UserInfo) -> list[PageLink]:
    """Links to the plugin's pages about `klass`, shown on the class page to `user`, who
    manages the class (its teachers and admins)."""
    raise NotImplementedError  # a specification: pluggy calls the plugins' implementations


@hookspec
def export_user_data(user: UserInfo) -> list[UserDataSection]:
    """What the plugin holds about `user`, for their data export (an access request)."""
    raise NotImplementedError


@hookspec
def erase_user_data(user: UserInfo, dry_run: bool) -> list[ErasureItem]:
    """Erase what the plugin holds about `user` (an erasure request): its own rows, the
    user's identities with its provider, remote copies. With `dry_run` nothing changes and
    the answer says what would go. Called inside the erasure's unit of work, before the
    core anonymises the user; must be idempotent (a second call erases nothing, counts 0)."""
    raise NotImplementedError


# Events: broadcast to every plugin, return values ignored.


@hookspec
def class_started(meeting: MeetingRecord, klass: ClassInfo, schedule: ScheduleInfo) -> None:
    """A teacher started a class occurrence; its meeting is running."""


@hookspec
def class_ended(meeting: MeetingRecord, klass: ClassInfo, schedule: ScheduleInfo) -> None:
    """A class occurrence's meeting ended (from the portal or a backend callback)."""


@hookspec
def participant_joined(meeting: MeetingRecord, user: UserInfo, target: JoinTarget) -> None:
    """A user was handed a join target for a running meeting."""


@hookspec
def floor_changed(
    schedule: ScheduleInfo, meeting: MeetingRecord | None, user_id: int, floor: FloorGrant
) -> None:
    """The teacher granted, withdrew or muted a student's microphone/camera/screen in a
    class occurrence (committed). `meeting` is the occurrence's meeting (None before
    the first start); `floor` is the student's FloorGrant now. A media backend stops what
    is no longer granted: it closes the student's streams, stops forwarding a muted mic."""


@hookspec
def recording_ready(recording: RecordingRef) -> None:
    """A new recording row exists (any backend)."""


@hookspec
def user_provisioned(user: UserInfo, identity: ExternalIdentity, created: bool) -> None:
    """An auth provider signed a user in; `created` is True on first login."""


@hookspec
def notification_delivered(notification: NotificationRef, result: DeliveryResult) -> None:
    """A notifier handed a message to its provider (or failed for good)."""
