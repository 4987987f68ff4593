"""Privacy: data exports, erasure, retention settings, legal hold and the audit log
(portal/core/privacy owns every rule; see docs/privacy.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import DateTimeIn, Model, Out, PageQuery, RowId, out_of
from portal.core import access
from portal.core.models import ExportJob
from portal.core.privacy import access_log, erasure, export, retention


class ExportIn(Model):
    # Why an administrator exports someone else's data (e.g. "parent's request of 2 May").
    reason: str = Field(default="", max_length=200)


class ExportOut(Out):
    id: int
    user_id: int
    status: Literal["queued", "running", "ready", "failed"]
    percent: int
    created_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    # The zip's signed link, valid for a day, once ready.
    download_url: str | None = None


def _export(job: ExportJob) -> ExportOut:
    out = ExportOut.model_validate(job)
    out.download_url = export.download_link(job)
    return out


@endpoint(
    api,
    "/users/<int:user_id>/exports",
    "POST",
    summary="Prepare a download of everything the portal holds about a user (self, admins)",
    body=ExportIn,
    response=ExportOut,
    status=202,
    tags=["privacy"],
    errors=[403, 404],
)
def request_export(user_id: int, body: ExportIn):
    return _export(export.request_export(current_actor(), user_id, body.reason))


@endpoint(
    api,
    "/exports/<int:job_id>",
    summary="A data export's progress, and its download link once ready",
    response=ExportOut,
    tags=["privacy"],
    errors=[404],
)
def get_export(job_id: int):
    return _export(export.get_job(current_actor(), job_id))


class ErasureIn(Model):
    # true: only list what would change.
    dry_run: bool = False


class ErasureChangeOut(Out):
    what: str
    action: str  # delete / delete with file / keep as former user / anonymise name / clear ...
    label: str  # the action in the reader's language
    count: int


class ErasureOut(Out):
    user_id: int
    dry_run: bool
    already_erased: bool
    policy: Literal["anonymise", "delete"]
    changes: list[ErasureChangeOut]


@endpoint(
    api,
    "/users/<int:user_id>/erasure",
    "POST",
    summary="Erase a user's personal data (admins); dry_run lists the changes first",
    body=ErasureIn,
    response=ErasureOut,
    tags=["privacy"],
    errors=[400, 403, 404],
)
def erase_user(user_id: int, body: ErasureIn):
    result = erasure.erase(current_actor(), user_id, dry_run=body.dry_run)
    return ErasureOut.model_validate(result)


class PrivacySettingsOut(Out):
    chat: int | None
    uploads: int | None
    recordings: int | None
    attendance: int | None
    notifications: int | None
    erasure_policy: Literal["anonymise", "delete"]


Days = int | None


class PrivacySettingsIn(Model):
    # Days kept after the class occurrence ended; null keeps for ever.
    chat: Days = Field(default=None, ge=1, le=retention.MAX_DAYS)
    uploads: Days = Field(default=None, ge=1, le=retention.MAX_DAYS)
    recordings: Days = Field(default=None, ge=1, le=retention.MAX_DAYS)
    attendance: Days = Field(default=None, ge=1, le=retention.MAX_DAYS)
    notifications: Days = Field(default=None, ge=1, le=retention.MAX_DAYS)
    # What an erasure does with the user's chat, votes, feedback and drawings.
    erasure_policy: Literal["anonymise", "delete"] | None = None


def _settings() -> PrivacySettingsOut:
    rules = retention.read_policy()
    return PrivacySettingsOut(**rules.__dict__, erasure_policy=erasure.policy())


@endpoint(
    api,
    "/admin/privacy",
    summary="Retention periods and the erasure policy (admins)",
    response=PrivacySettingsOut,
    tags=["privacy"],
    errors=[403],
)
def get_privacy_settings():
    access.require_admin(current_actor())
    return _settings()


@endpoint(
    api,
    "/admin/privacy",
    "PATCH",
    summary="Change retention periods or the erasure policy (admins)",
    body=PrivacySettingsIn,
    response=PrivacySettingsOut,
    tags=["privacy"],
    errors=[400, 403],
)
def update_privacy_settings(body: PrivacySettingsIn):
    actor = current_actor()
    access.require_admin(actor)
    periods = {
        kind: getattr(body, kind) for kind in retention.KINDS if kind in body.model_fields_set
    }
    if periods:
        retention.update_policy(actor, periods)
    if body.erasure_policy is not None:
        erasure.set_policy(actor, body.erasure_policy)
    return _settings()


class LegalHoldIn(Model):
    on: bool


class LegalHoldOut(Out):
    class_id: int
    on: bool


@endpoint(
    api,
    "/classes/<int:class_id>/legal-hold",
    "PUT",
    summary="Keep a class's recordings whatever the retention policy (admins)",
    body=LegalHoldIn,
    response=LegalHoldOut,
    tags=["privacy"],
    errors=[403, 404],
)
def set_legal_hold(class_id: int, body: LegalHoldIn):
    klass = retention.set_legal_hold(current_actor(), class_id, body.on)
    return LegalHoldOut(class_id=klass.id, on=klass.recordings_legal_hold)


class AuditQuery(PageQuery):
    actor_id: RowId | None = None
    subject_type: str | None = Field(default=None, max_length=32)
    subject_id: str | None = Field(default=None, max_length=64)
    # An action or its prefix: "privacy." lists every privacy entry.
    action: str | None = Field(default=None, max_length=64)
    since: DateTimeIn | None = None
    until: DateTimeIn | None = None


# The core's AuditEntry is the one declaration of an audit row; the API serves its fields.
AuditEntryOut = out_of(access_log.AuditEntry, "AuditEntryOut", __name__)


class AuditPage(Out):
    items: list[AuditEntryOut]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


@endpoint(
    api,
    "/admin/audit",
    summary="The audit log: who did or looked at what, newest first (admins)",
    query=AuditQuery,
    response=AuditPage,
    tags=["privacy"],
    errors=[403],
)
def list_audit(query: AuditQuery):
    filters = access_log.AuditFilter(
        actor_id=query.actor_id,
        subject_type=query.subject_type,
        subject_id=query.subject_id,
        action=query.action,
        since=query.since,
        until=query.until,
    )
    rows, total = access_log.list_entries(
        current_actor(), filters, limit=query.limit, offset=query.offset
    )
    return AuditPage(
        items=[AuditEntryOut.model_validate(r) for r in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )
