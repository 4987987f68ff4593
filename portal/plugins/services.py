"""The portal's services for plugins: what a backend, notifier or auth provider may ask of the core.

    from portal.plugins import services

    record = services.find_meeting("bbb", meeting_id)
    services.update_meeting_data(record.id, lambda data: data.update(room_active=True))

Every function returns the contract's dataclasses (portal.plugins.types), never ORM rows, and
each is documented in docs/plugins.md ("The services facade"). Plugins import nothing else
from the core; tests/plugins/test_plugin_imports.py enforces it.

Transactions: a plugin's request, job or CLI command is a unit of work that commits once
(the request's end, `run_job`, the command); code that none of them owns (a webhook handler
or sync loop) wraps its work in `services.unit_of_work()`, which commits once at the end and
rolls back on error. The callbacks queued with `after_commit` run only once the commit
succeeded. The mutators below add to that unit of work and do not commit: a compare-and-set
locks the row it changes, and an insert that may race another delivery retries in a
savepoint, so both stay safe under concurrency until the owner commits. The one exception is
a webhook delivery's claim (`claim_delivery` / `release_delivery`), which commits at once.

The core is imported inside the functions: portal.plugins is imported by the core itself
(its types), so importing the core here at module level would be circular.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from portal.i18n import gettext
from portal.plugins.types import (
    AttendeeInfo,
    ClassInfo,
    ExternalIdentity,
    HealthResult,
    JoinTarget,
    MeetingHandle,
    MeetingRecord,
    RecordingInfo,
    RecordingRef,
    RoomGuest,
    UserInfo,
    Visit,
)

__all__ = [
    "after_commit",
    "audit",
    "backend_settings",
    "check_health",
    "checkpoint",
    "claim_delivery",
    "classes_taught_by",
    "config",
    "create_class",
    "create_backend_config",
    "decrypt_secret",
    "delete_file",
    "download_url",
    "encrypt_secret",
    "enrol_students",
    "enqueue_job",
    "find_backend_config",
    "find_meeting",
    "find_user_by_email",
    "find_user_by_identity",
    "get_class",
    "get_meeting",
    "get_user",
    "guest_in_room",
    "guest_room_credential",
    "handle_of",
    "identities_of",
    "identity_subject",
    "is_blocked",
    "is_class_manager",
    "is_member",
    "join_class",
    "mark_meeting_ended",
    "meeting_settings",
    "meetings_with_pending",
    "minutes_present",
    "new_file_key",
    "normalise_phone",
    "now",
    "provision_user",
    "read_file",
    "recent_meetings",
    "record_attendance",
    "record_provider_status",
    "record_visits",
    "refresh_reads",
    "register_recording",
    "release_delivery",
    "remove_identities",
    "require_not_blocked",
    "running_meetings",
    "session",
    "sign_out_user",
    "store_file",
    "sync_presence",
    "unenrol_student",
    "unit_of_work",
    "update_meeting_data",
]

# Transactions ------------------------------------------------------------------------


def session() -> Any:
    """The SQLAlchemy session of the current unit of work, for a plugin's OWN tables
    (declared on portal.plugins.tables.Model). Never commit it: unit_of_work does."""
    from portal.extensions import db

    return db.session


@contextlib.contextmanager
def unit_of_work() -> Iterator[None]:
    """One transaction: commit at the end, roll back (and re-raise) on error; the callbacks
    queued with after_commit run once the commit succeeded. Nested use joins the outer unit
    of work. (The core's `unit_of_work.scope`: one implementation.)"""
    from portal.core import unit_of_work as core_unit_of_work

    with core_unit_of_work.scope():
        yield


def after_commit(callback: Callable[[], object]) -> None:
    """Run `callback` once the current transaction commits (events, queued jobs), whoever
    commits it: the unit of work, the request, the job; dropped if it rolls back."""
    from portal.core import unit_of_work as core_unit_of_work

    core_unit_of_work.after_commit(callback)


def checkpoint() -> None:
    """Make what a long periodic job did so far durable and visible to everyone (its claim,
    its progress), and go on in a new transaction. Inside a request it does nothing: the
    request owns its transaction and commits at its end."""
    from flask import has_request_context

    from portal.core import unit_of_work

    if not has_request_context():
        unit_of_work.commit()  # atomic claim: a long job's claim and progress, seen at once


def refresh_reads() -> None:
    """Forget what this request has read so far (ends its open, read-only transaction): the
    next reads see what other requests committed since, e.g. to re-check a rule after a slow
    call to an outside server. Never call it with unsaved changes: they are discarded."""
    from portal.extensions import db

    db.session.rollback()


def now() -> datetime:
    """The current time, timezone-aware UTC (what every portal column stores)."""
    from portal.core.types import utcnow

    return utcnow()


# Meetings ----------------------------------------------------------------------------


def _row(meeting_id: int) -> Any:
    from portal.core.errors import NotFound
    from portal.core.models import Meeting
    from portal.extensions import db

    row = db.session.get(Meeting, meeting_id)
    if row is None:
        raise NotFound("no such meeting")
    return row


def _record(row: Any) -> MeetingRecord:
    from portal.core.snapshots import meeting_record

    return meeting_record(row)


def get_meeting(meeting_id: int) -> MeetingRecord:
    """The meeting with this portal id; raises NotFound."""
    return _record(_row(meeting_id))


def find_meeting(backend: str, backend_meeting_id: str) -> MeetingRecord | None:
    """The meeting `backend` knows as `backend_meeting_id` (the id create_meeting returned),
    or None. A meeting id reused by a restarted class finds the newest occurrence's row."""
    from portal.core import meetings

    row = meetings.find_meeting(backend, backend_meeting_id)
    return _record(row) if row is not None else None


def running_meetings(backend: str) -> list[MeetingRecord]:
    """Every meeting of `backend` the portal believes is running (for periodic sync)."""
    from portal.core import meetings

    return [_record(row) for row in meetings.running_meetings(backend)]


def recent_meetings(backend: str, *, ended_within_days: int) -> list[MeetingRecord]:
    """Meetings of `backend` running now or ended in the last days (recordings can take
    hours to process after a meeting ended)."""
    from datetime import timedelta

    from portal.core.models import Meeting, MeetingState
    from portal.core.types import utcnow
    from portal.extensions import db

    since = utcnow() - timedelta(days=ended_within_days)
    rows = db.session.execute(
        db.select(Meeting)
        .where(
            Meeting.backend == backend,
            db.or_(Meeting.status == MeetingState.RUNNING.value, Meeting.ended_at >= since),
        )
        .order_by(Meeting.id)
    ).scalars()
    return [_record(row) for row in rows]


def meetings_with_pending(backend: str, key: str, within_days: int = 3) -> list[MeetingRecord]:
    """Meetings of `backend` updated in the last `within_days` whose data has a non-empty
    `key` (e.g. "pending_downloads"): work a webhook left for a retry job."""
    from portal.core import meeting_events

    return [
        _record(row)
        for row in meeting_events.meetings_with_pending(backend, key, within_days=within_days)
    ]


def update_meeting_data(meeting_id: int, change: Callable[[dict[str, Any]], Any]) -> Any:
    """Atomic compare-and-set of the meeting's backend data: `change` mutates the dict it
    gets (a copy of the stored data) and may return a value, which is returned.

    Two racing requests never lose each other's update: on a concurrent change `change`
    runs again on the fresh data, so it must be safe to repeat. Does not commit: the row
    stays locked until the unit of work ends, so a concurrent change waits for it."""
    from portal.core import meeting_events

    return meeting_events.update_data(_row(meeting_id), change)


def claim_delivery(meeting_id: int, key: str) -> bool:
    """Remember a webhook delivery's idempotency key; False when it was claimed before, so
    a provider's retry is processed once. Atomic claim: commits the unit of work so far, so a
    retry arriving during slow processing sees the key at once."""
    from portal.core import meeting_events

    return meeting_events.claim_delivery(_row(meeting_id), key)


def release_delivery(meeting_id: int, key: str) -> None:
    """Forget a claimed key after processing failed, so the provider's retry is processed
    again. Rolls back the failed delivery's writes, then commits the release (atomic)."""
    from portal.core import meeting_events

    meeting_events.release_delivery(_row(meeting_id), key)


def mark_meeting_ended(meeting_id: int) -> bool:
    """The backend says the meeting is over: status ended, open attendance closed, the
    class_ended event fired. True only the first time (idempotent). Does not commit; the
    event fires after the unit of work commits."""
    from portal.core import meetings

    return meetings.mark_meeting_ended(_row(meeting_id))


def handle_of(record: MeetingRecord) -> MeetingHandle:
    """The MeetingHandle the core passes the backend for this meeting."""
    from portal.core.snapshots import handle_of_record

    return handle_of_record(record)


def meeting_settings(meeting_id: int) -> dict[str, Any]:
    """The effective settings (defaults applied, secrets decrypted) of the backend
    configuration that runs this meeting; raises NotFound when it was removed."""
    from portal.core import meetings

    return meetings.settings_for_meeting(_row(meeting_id))


def backend_settings(
    backend: str, *, enabled_only: bool = False
) -> list[tuple[int, dict[str, Any]]]:
    """(config id, effective settings) of every configuration of `backend`, enabled or not
    unless `enabled_only` (a disabled configuration still accepts callbacks for meetings it
    ran). Use it to check a callback's signature before looking anything up."""
    from portal.core import meeting_events

    configs = meeting_events.backend_settings(backend)
    if enabled_only:
        from portal.core.backends import enabled_configs

        enabled = {config.id for config in enabled_configs()}
        configs = [(config_id, settings) for config_id, settings in configs if config_id in enabled]
    return configs


def find_backend_config(backend: str, name: str) -> tuple[int, dict[str, Any]] | None:
    """(config id, effective settings) of the ENABLED configuration of `backend` the admin
    named `name`, or None (CLI helpers that print a server's settings)."""
    from portal.core.backends import effective_settings, enabled_configs

    for config in enabled_configs():
        if config.backend == backend and config.name == name:
            return config.id, effective_settings(config)
    return None


def create_backend_config(
    admin_email: str,
    *,
    name: str,
    backend: str,
    settings: Mapping[str, Any],
    is_default: bool = False,
) -> int:
    """Add a backend configuration on behalf of an admin account (CLI set-up); validates
    `settings` against the backend's schema and audits it. Returns the config id."""
    from portal.core import backends
    from portal.core.errors import Forbidden
    from portal.core.models import User
    from portal.extensions import db

    admin = db.session.execute(
        db.select(User).filter_by(email=admin_email.strip().lower())
    ).scalar_one_or_none()
    if admin is None or not admin.is_admin:
        raise Forbidden(
            gettext("%(email)s is not an admin account", email=admin_email), code="not_admin"
        )
    config = backends.create_config(
        admin, name=name, backend=backend, is_default=is_default, settings=settings
    )
    db.session.flush()
    return config.id


def check_health(config_id: int) -> HealthResult:
    """Run the backend's health check for one configuration and store the result."""
    from portal.core import backends
    from portal.core.errors import NotFound
    from portal.core.models import BackendConfig
    from portal.extensions import db

    config = db.session.get(BackendConfig, config_id)
    if config is None:
        raise NotFound("no such backend configuration")
    return backends.check_health(config)


# Attendance --------------------------------------------------------------------------


def record_attendance(
    meeting_id: int,
    user_id: int | None,
    name: str,
    source: str,
    *,
    left: bool = False,
    at: datetime | None = None,
) -> None:
    """Merge one join (or leave, `left=True`) the backend saw into the person's attendance
    row; `at` is the backend's event time when it gives one (events are merged by time,
    not arrival). A user id the portal does not know counts as a guest. Does not commit."""
    from portal.core import meetings

    meetings.record_attendance(
        _row(meeting_id),
        user_id=_known_user(user_id),
        name=name[:200] or "Guest",
        source=source,
        left=left,
        at=at,
    )


def minutes_present(schedule_id: int) -> dict[int, int]:
    """Minutes each enrolled student was present in the class occurrence, as the teacher's
    attendance report counts them (0 for those absent or still in). Raises NotFound for an
    unknown occurrence."""
    from portal.core import attendance
    from portal.core.errors import NotFound
    from portal.core.models import Schedule
    from portal.extensions import db

    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("no such class occurrence")
    report = attendance.report(_user(schedule.klass.teacher_id), schedule_id)
    return {
        row.user_id: row.minutes or 0
        for row in report.rows
        if row.role == "student" and row.user_id is not None
    }


def sync_presence(meeting_id: int, attendees: Iterable[AttendeeInfo], source: str) -> None:
    """The backend's full list of who is in the meeting now (periodic sampling): everyone
    listed is present, and the open rows of people no longer listed are closed. Does not
    commit."""
    from portal.core import meetings

    meetings.sync_presence(
        _row(meeting_id),
        [(_known_user(a.user_id), a.name[:200] or "Guest") for a in attendees],
        source=source,
    )


def record_visits(meeting_id: int, visits: Iterable[Visit], source: str) -> None:
    """Exact visits (first join, last leave) timed by the backend, e.g. BBB's learning
    analytics at meeting end. Repeating the same data changes nothing. Does not commit (a
    concurrent delivery inserting the same rows is retried as an update, in a savepoint)."""
    from portal.core import meeting_events

    meeting_events.note_visits(_row(meeting_id), visits, source=source)


def _known_user(user_id: int | None) -> int | None:
    from portal.core.models import User
    from portal.extensions import db

    if user_id is None or db.session.get(User, user_id) is None:
        return None
    return user_id


# Recordings and files ----------------------------------------------------------------


def register_recording(
    meeting_id: int, info: RecordingInfo, storage_key: str | None = None
) -> tuple[RecordingRef, bool]:
    """Insert or refresh the recording the backend reports (by `info.record_id`, per backend
    configuration); `storage_key` when its file is in the portal's storage. Returns
    (recording, created); recording_ready fires once, on creation, after the unit of work
    commits. Does not commit (two deliveries racing to insert it are told apart in a
    savepoint)."""
    from portal.core import meetings
    from portal.core.snapshots import recording_ref

    row, created = meetings.store_recording(_row(meeting_id), info, storage_key=storage_key)
    return recording_ref(row), created


def report_recording_progress(
    meeting_id: int, state: str, percent: int = 0, message: str = ""
) -> None:
    """Tell the portal how the meeting's recording is coming along after the class: state is
    "queued", "assembling" (percent 0-100), "ready" (the recording is registered) or "failed"
    (message says why). The class's teachers see it on the class page; a failed one offers
    Retry, which calls the backend's optional retry_recording(settings, handle). Does not
    commit. Raises ValidationFailed for another state."""
    from portal.core import recording_jobs

    recording_jobs.report(meeting_id, state, percent, message)


def new_file_key(prefix: str, extension: str) -> str:
    """A fresh, unguessable storage key under `prefix` (e.g. "recordings/12")."""
    from portal.core import storage

    return storage.new_key(prefix, extension)


def store_file(key: str, data: bytes, content_type: str) -> None:
    """Save bytes in the portal's storage (local disk or S3) under `key`; readers never
    see half a file."""
    from portal.core import storage

    storage.get_storage().save(key, data, content_type)


def read_file(key: str) -> bytes:
    """The bytes stored under `key`; raises NotFound."""
    from portal.core import storage

    return storage.read_bytes(key)


def delete_file(key: str) -> None:
    """Remove the file stored under `key` (no error when it is already gone)."""
    from portal.core import storage

    storage.get_storage().delete(key)


def download_url(key: str, expires_in: int = 3600, filename: str | None = None) -> str:
    """A time-limited link to the file, for a backend server or a browser."""
    from portal.core import storage

    return storage.public_url(key, expires_in=expires_in, filename=filename)


# People ------------------------------------------------------------------------------


def get_user(user_id: int) -> UserInfo | None:
    """The portal account with this id, or None."""
    from portal.core.models import User
    from portal.core.snapshots import user_info
    from portal.extensions import db

    user = db.session.get(User, user_id)
    return user_info(user) if user is not None else None


def find_user_by_email(email: str) -> UserInfo | None:
    """The portal account with this e-mail address (normalised), or None."""
    from portal.core.models import User
    from portal.core.snapshots import user_info
    from portal.core.users import normalise_email
    from portal.extensions import db

    user = db.session.execute(
        db.select(User).filter_by(email=normalise_email(email))
    ).scalar_one_or_none()
    return user_info(user) if user is not None else None


def find_user_by_identity(provider: str, subject: str) -> UserInfo | None:
    """The portal account linked to `provider`'s user `subject`, or None."""
    from portal.core.models import User, UserIdentity
    from portal.core.snapshots import user_info
    from portal.extensions import db

    link = db.session.execute(
        db.select(UserIdentity).filter_by(provider=provider, subject=subject)
    ).scalar_one_or_none()
    user = db.session.get(User, link.user_id) if link is not None else None
    return user_info(user) if user is not None else None


def identity_subject(provider: str, user_id: int) -> str | None:
    """The id `provider` knows this portal user by, if the account is linked."""
    from portal.core.models import UserIdentity
    from portal.extensions import db

    return db.session.execute(
        db.select(UserIdentity.subject).filter_by(provider=provider, user_id=user_id)
    ).scalar_one_or_none()


def identities_of(provider: str, user_id: int) -> list[dict[str, Any]]:
    """The user's identities with `provider` (subject, linked and last-login times), for the
    plugin's part of the user's data export (export_user_data)."""
    from portal.core.privacy import identities

    return identities.describe(user_id, provider)


def remove_identities(provider: str, user_id: int, dry_run: bool = False) -> int:
    """Unlink the user from `provider` (erase_user_data): a later sign-in with that
    identity makes a new account. How many links went (or would go, with `dry_run`)."""
    from portal.core.privacy import identities

    return identities.remove(user_id, provider, dry_run=dry_run)


def _class(class_id: int) -> Any:
    from portal.core.errors import NotFound
    from portal.core.models import Class
    from portal.extensions import db

    klass = db.session.get(Class, class_id)
    if klass is None:
        raise NotFound("no such class")
    return klass


def _user(user_id: int) -> Any:
    from portal.core.errors import NotFound
    from portal.core.models import User
    from portal.extensions import db

    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def get_class(class_id: int) -> ClassInfo | None:
    """The class, or None when there is no such class."""
    from portal.core.models import Class
    from portal.core.snapshots import class_info
    from portal.extensions import db

    klass = db.session.get(Class, class_id)
    return class_info(klass) if klass is not None else None


def classes_taught_by(user_id: int) -> list[ClassInfo]:
    """The classes the user teaches (that are not cancelled), newest first."""
    from portal.core.models import Class, ClassStatus
    from portal.core.snapshots import class_info
    from portal.extensions import db

    rows = db.session.execute(
        db.select(Class)
        .where(Class.teacher_id == user_id, Class.status != ClassStatus.CANCELLED.value)
        .order_by(Class.id.desc())
    ).scalars()
    return [class_info(row) for row in rows]


def create_class(
    teacher_id: int, title: str, starts_at: datetime, duration_minutes: int = 60
) -> ClassInfo:
    """A new one-off class taught by `teacher_id`, created as that teacher would create it
    (the same rules: a teacher, a title, a start not in the past). Does not commit."""
    from portal.core import classes
    from portal.core.snapshots import class_info

    data = classes.ClassInput(title=title, starts_at=starts_at, duration_minutes=duration_minutes)
    return class_info(classes.create_class(_user(teacher_id), data))


def enrol_students(class_id: int, user_ids: list[int]) -> int:
    """Enrol students in the class on its teacher's behalf (an outside roster, such as an
    LMS's, is the source of truth); already enrolled ones are left alone. Returns how many
    were added. Raises ValidationFailed for ids that are not students. Does not commit."""
    from portal.core import classes

    klass = _class(class_id)
    return len(classes.enrol(_user(klass.teacher_id), class_id, user_ids))


def unenrol_student(class_id: int, user_id: int) -> None:
    """Remove a student from the class on its teacher's behalf. Does not commit."""
    from portal.core import classes

    klass = _class(class_id)
    classes.unenrol(_user(klass.teacher_id), class_id, user_id)


def guest_room_credential(guest_id: int, schedule_id: int) -> str:
    """A credential for this guest in this one occurrence's room (the bearer token a backend
    hands a guest's browser); `guest_in_room` checks it."""
    from portal.core import invites
    from portal.core.errors import NotFound
    from portal.core.models import Guest

    guest = session().get(Guest, guest_id)
    if guest is None:
        raise NotFound("no such guest")
    return invites.room_credential(guest, schedule_id)


def guest_in_room(token: str | None) -> RoomGuest | None:
    """The admitted guest a room credential names; None when `token` is no guest credential
    (a user's token, say); NotAuthenticated once the guest's link was revoked or expired,
    Forbidden while the guest is not admitted."""
    from portal.core import invites
    from portal.core.errors import Forbidden
    from portal.i18n import _

    if not invites.is_room_credential(token):
        return None
    guest, schedule = invites.guest_for_room_credential(str(token))
    if guest.schedule_id != schedule.id or guest.status != invites.ADMITTED:
        raise Forbidden(_("wait until the teacher lets you in"), code="waiting_room")
    return RoomGuest(
        guest_id=guest.id,
        schedule_id=schedule.id,
        class_id=schedule.class_id,
        name=invites.guest_label(guest.name),
        viewer_only=bool(guest.link.viewer_only),
    )


def is_member(user_id: int, class_id: int) -> bool:
    """Is the user enrolled in the class, its teacher or an admin?"""
    from portal.core import access

    return access.is_member(_user(user_id), _class(class_id))


def is_class_manager(user_id: int, class_id: int) -> bool:
    """May the user run the class (its teacher or an admin)?"""
    from portal.core import access

    return access.can_manage_class(_user(user_id), _class(class_id))


def is_blocked(user_id: int, class_id: int | None = None) -> bool:
    """Is the user blocked on the portal, or (with `class_id`) from that class?"""
    from portal.core import access

    return access.active_block(_user(user_id), class_id) is not None


def require_not_blocked(user_id: int, class_id: int | None = None) -> None:
    """Raise Forbidden (code "blocked", with the block's reason) when the user is blocked on
    the portal or (with `class_id`) from that class; the core's one block rule."""
    from portal.core import access

    access.require_not_blocked(_user(user_id), class_id)


def join_class(user_id: int, schedule_id: int) -> JoinTarget:
    """The user joins a running class occurrence, with every rule the class page applies
    (membership, blocks, join window); returns the backend's JoinTarget and fires
    participant_joined after the unit of work commits (with the attendance it records).
    Raises NotFound / Forbidden / Conflict like the class page. Does not commit."""
    from portal.core import meetings

    return meetings.join_class(_user(user_id), schedule_id)


def normalise_phone(phone: str | None) -> str | None:
    """A phone number in E.164 form, or None; raises ValidationFailed when unusable."""
    from portal.core import users

    return users.normalise_phone(phone)


def provision_user(identity: ExternalIdentity) -> tuple[UserInfo, bool]:
    """Sign-in by an auth provider: link the account by provider + subject (never by e-mail
    alone), create it on first login, refresh name, e-mail, phone and role afterwards.
    Returns (user, created); user_provisioned fires. Raises Conflict / NotAuthenticated.
    Does not commit."""
    from portal.core import users
    from portal.core.snapshots import user_info

    user, created = users.provision_identity(identity)
    return user_info(user), created


def sign_out_user(user_id: int, reason: str) -> None:
    """End every session of the user now (access and refresh tokens, browser and API);
    audited as user.logout with `via=reason`. Does not commit."""
    from portal.core import audit as core_audit
    from portal.core import auth_tokens

    auth_tokens.sign_out_everywhere(user_id)
    core_audit.record(None, "user.logout", "user", user_id, via=reason)


def audit(
    action: str, target_type: str, target_id: Any, *, actor_id: int | None = None, **details: Any
) -> None:
    """Add an audit-log entry to the unit of work (committed with the change it describes)."""
    from portal.core import audit as core_audit

    core_audit.record(
        _user(actor_id) if actor_id is not None else None, action, target_type, target_id, **details
    )


# Notifications -----------------------------------------------------------------------


def record_provider_status(
    channel: str, provider_id: str, status: str, error: str | None = None
) -> bool:
    """A provider's delivery report (e.g. a Twilio status callback) for a message the
    notifier sent: `status` is NotificationStatus.SENT or .FAILED. False when no
    notification has that provider id. Does not commit."""
    from portal.core import notifications

    return notifications.record_provider_status(channel, provider_id, status, error) is not None


# Settings and jobs -------------------------------------------------------------------


def config(name: str, default: Any = None) -> Any:
    """An app setting (PORTAL_<NAME> environment variable or config file key)."""
    from flask import current_app

    return current_app.config.get(name, default)


def encrypt_secret(value: str) -> str:
    """`value` encrypted with the portal's secret key, for a plugin's own table (keys,
    client secrets): a database dump or backup then holds no usable secret."""
    from portal.core import security

    return security.encrypt_secret(value)


def decrypt_secret(value: str) -> str:
    """The plaintext of what `encrypt_secret` returned; a value stored before encryption
    (no marker) comes back unchanged, so existing rows keep working."""
    from portal.core import security

    return security.decrypt_secret(value)


def enqueue_job(name: str) -> None:
    """Run a registered periodic job (PeriodicJob.name) soon, outside this request: on a
    Celery worker when Celery has a broker, else in a thread of this process. Queued after
    the current unit of work commits, so the job sees its changes. Raises NotFound for a
    name no plugin registered."""
    from portal import tasks
    from portal.core.errors import NotFound
    from portal.current import current_flask_app

    if name not in tasks.all_jobs(current_flask_app()):
        raise NotFound(gettext("no periodic job is named %(name)s", name=repr(name)))
    after_commit(lambda: tasks.enqueue_job(name))
