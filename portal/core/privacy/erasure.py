"""Erasing a user (an erasure request): their contact data and credentials go, the account
stays as an anonymous "former user" so the class's history still adds up.

What happens, row by row, is in `_STEPS` and docs/privacy.md. Chat messages, poll votes,
feedback and whiteboard strokes are kept for the class, attributed to the former user, or
deleted: the site's `erasure_policy` setting. Files the user uploaded are deleted from
storage (once the erasure commits). Plugins erase what they hold through the
erase_user_data hook (SSO identities, their own tables, copies on a backend).

A dry run answers the same list without changing anything. Erasing twice changes nothing
the second time. The audit log keeps the counts, never the erased data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from portal.core import access, audit, storage
from portal.core.errors import ValidationFailed
from portal.core.models import (
    Attendance,
    BlockedUser,
    BoardStroke,
    ChatMessage,
    ClassMute,
    ClassStaff,
    Enrolment,
    ExportJob,
    Feedback,
    FloorSeat,
    LobbyEntry,
    Media,
    Notification,
    PollVote,
    RevokedToken,
    Slide,
    User,
)
from portal.core.privacy import access_log, identities
from portal.core.registry import hook
from portal.core.settings import get_setting, set_setting
from portal.core.snapshots import user_info
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import _, lazy_gettext

ErasurePolicy = Literal["anonymise", "delete"]
POLICIES: tuple[ErasurePolicy, ...] = ("anonymise", "delete")
PLACEHOLDER_DOMAIN = "erased.invalid"  # RFC 2606: never a deliverable address
FORMER_NAMES = {
    "student": lazy_gettext("Former student"),
    "teacher": lazy_gettext("Former teacher"),
    "admin": lazy_gettext("Former administrator"),
}


CLEAR = "clear contact data and credentials"
ACTION_LABELS = {
    CLEAR: lazy_gettext("clear contact data and credentials"),
    "delete": lazy_gettext("delete"),
    "delete with file": lazy_gettext("delete, with the stored file"),
    "keep as former user": lazy_gettext("keep for the class, as a former user's"),
    "anonymise name": lazy_gettext("replace the name by a former user's"),
}


def policy() -> ErasurePolicy:
    chosen = get_setting("erasure_policy")
    return chosen if chosen in POLICIES else "anonymise"


def set_policy(actor: User, chosen: str) -> None:
    access.require_admin(actor)
    if chosen not in POLICIES:
        raise ValidationFailed(
            _("the erasure policy must be 'anonymise' or 'delete'"), code="invalid_policy"
        )
    if chosen != policy():
        set_setting("erasure_policy", chosen)
        audit.record(actor, "privacy.erasure_policy", "site", "erasure_policy", policy=chosen)


def placeholder_email(user_id: int) -> str:
    return f"erased-{user_id}@{PLACEHOLDER_DOMAIN}"


def is_erased(user: User) -> bool:
    return user.email == placeholder_email(user.id)


@dataclass(frozen=True)
class ErasureChange:
    """One line of what an erasure changes: `what` (a table or a plugin's section),
    `action` (delete / anonymise / clear), `count` rows."""

    what: str
    action: str
    count: int

    @property
    def label(self) -> str:
        """The action in the reader's language, for the dry run's list."""
        return str(ACTION_LABELS.get(self.action, self.action))


@dataclass(frozen=True)
class ErasureResult:
    user_id: int
    dry_run: bool
    already_erased: bool
    policy: ErasurePolicy
    changes: list[ErasureChange]


def _former_name(user: User) -> str:
    return str(FORMER_NAMES.get(user.role, FORMER_NAMES["student"]))


def _clear_user(user: User) -> None:
    user.name = _former_name(user)
    user.email = placeholder_email(user.id)
    user.phone = None
    user.password_hash = None
    user.timezone = None
    user.calendar_token = None
    user.channel_preferences = {}
    user.is_active = False
    user.account_status = None
    # Every session and token of the account stops working now.
    user.token_generation = (user.token_generation or 0) + 1
    user.tokens_valid_after = utcnow()


@dataclass(frozen=True)
class _Step:
    """Rows of one table that belong to the user, and what the erasure does to them."""

    model: Any
    owner: Any  # the column naming the user
    action: str  # as the dry run shows it
    apply: Callable[[User, list[Any]], None]

    def rows(self, user: User) -> list[Any]:
        return list(
            db.session.execute(db.select(self.model).where(self.owner == user.id)).scalars()
        )


def _delete(_user: User, rows: list[Any]) -> None:
    for row in rows:
        db.session.delete(row)


def _delete_with_files(_user: User, rows: list[Any]) -> None:
    for row in rows:
        storage.delete_row_and_file(row, row.storage_key)


def _keep(_user: User, _rows: list[Any]) -> None:
    """Kept for the class, attributed to the anonymised account."""


def _rename_attendance(user: User, rows: list[Any]) -> None:
    former = _former_name(user)
    for row in rows:
        row.display_name = former


KEEP = "keep as former user"
RENAME = "anonymise name"


def _steps(chosen: ErasurePolicy) -> list[_Step]:
    content = (
        _Step(m, c, "delete", _delete) if chosen == "delete" else _Step(m, c, KEEP, _keep)
        for m, c in (
            (ChatMessage, ChatMessage.user_id),
            (PollVote, PollVote.user_id),
            (Feedback, Feedback.user_id),
            (BoardStroke, BoardStroke.user_id),
        )
    )
    with_files = (
        _Step(m, c, "delete with file", _delete_with_files)
        for m, c in (
            (Media, Media.uploaded_by),
            (Slide, Slide.uploaded_by),
            (ExportJob, ExportJob.user_id),
        )
    )
    deleted = (
        _Step(m, m.user_id, "delete", _delete)
        for m in (
            Enrolment,
            ClassStaff,
            LobbyEntry,
            FloorSeat,
            ClassMute,
            BlockedUser,
            Notification,
            RevokedToken,
        )
    )
    return [
        *content,
        _Step(Attendance, Attendance.user_id, RENAME, _rename_attendance),
        *with_files,
        *deleted,
    ]


def erase(actor: User, user_id: int, *, dry_run: bool = False) -> ErasureResult:
    """Erase `user_id` (administrators; not oneself), or with `dry_run` list what would
    change. Does not commit: the caller's unit of work does, files go after it."""
    access.require_admin(actor)
    user = db.session.get(User, user_id)
    if user is None:
        from portal.core.errors import NotFound

        raise NotFound("no such user")
    if user.id == actor.id:
        raise ValidationFailed(_("you cannot erase your own account"), code="erase_self")
    chosen = policy()
    already = is_erased(user)
    changes: list[ErasureChange] = []
    for answer in hook().erase_user_data(user=user_info(user), dry_run=dry_run):
        for item in answer or []:
            if item.count:
                changes.append(ErasureChange(f"plugins/{item.name}", "delete", item.count))
    # Links of providers whose plugin is not installed (any left after the plugins ran).
    left = identities.remove(user.id, dry_run=dry_run)
    if left:
        changes.append(ErasureChange("user_identities", "delete", left))
    for step in _steps(chosen):
        rows = step.rows(user)
        if already and step.action == KEEP:
            rows = []  # kept the first time: nothing changes now
        if already and step.action == RENAME:
            rows = [row for row in rows if row.display_name != user.name]
        if not rows:
            continue
        changes.append(ErasureChange(step.model.__tablename__, step.action, len(rows)))
        if not dry_run:
            step.apply(user, rows)
    if not already:
        changes.insert(0, ErasureChange("users", CLEAR, 1))
        if not dry_run:
            _clear_user(user)
    if not dry_run:
        db.session.flush()
        if changes:
            audit.record(
                actor,
                access_log.ERASURE,
                "user",
                user.id,
                policy=chosen,
                counts={f"{c.what}:{c.action}": c.count for c in changes},
            )
    return ErasureResult(
        user_id=user.id, dry_run=dry_run, already_erased=already, policy=chosen, changes=changes
    )
