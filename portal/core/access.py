"""Who may do what. Every service calls these; views never decide permissions alone."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select

from portal.core.errors import Forbidden, NotFound
from portal.core.models import BlockedUser, Class, ClassStaff, Enrolment, Role, StaffRole, User
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext


def require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise Forbidden("only an administrator can do this")


def require_teacher(actor: User) -> None:
    if actor.role not in (Role.TEACHER.value, Role.ADMIN.value):
        raise Forbidden("only teachers and administrators can do this")


OWNER = "owner"


def staff_role(user: User, klass: Class) -> str | None:
    """The user's part in teaching this class: "owner", "co_teacher", "assistant" or None."""
    if klass.teacher_id == user.id:
        return OWNER
    if user.role == Role.STUDENT.value:
        return None  # only teachers are staff: students need no query here
    return db.session.execute(
        select(ClassStaff.role).filter_by(class_id=klass.id, user_id=user.id)
    ).scalar_one_or_none()


def manages(actor: User, role: str | None) -> bool:
    """The rule of can_manage_class, on an already known staff role."""
    return actor.is_admin or role in (OWNER, StaffRole.CO_TEACHER.value)


def moderates(actor: User, role: str | None) -> bool:
    """The rule of can_moderate_class, on an already known staff role."""
    return actor.is_admin or role is not None


@dataclass(frozen=True)
class Standing:
    """A user's standing in one class, read as columns of a request's one query
    (`standing_columns`) instead of one query per question."""

    staff_role: str | None
    enrolled: bool
    block_scope: str | None
    block_reason: str | None


def standing_columns(
    user_id: Any, *, staff_possible: bool, class_id: Any, teacher_id: Any, now: Any
) -> list[ColumnElement[Any]]:
    """Columns answering staff_role, is_enrolled and active_block for the user `user_id` (a
    value or bind parameter) in the class whose id and teacher id are the given (outer
    query's) columns, at `now`; `staff_possible` is False for students (only teachers are
    staff). Read them back with `standing_of(row[-4:])`: the same rules as the
    one-question functions above, as Core columns a prebuilt statement can hold."""
    staff_table, enrolments, blocks = (
        ClassStaff.__table__.c,
        Enrolment.__table__.c,
        BlockedUser.__table__.c,
    )
    staff: ColumnElement[Any] = (
        select(staff_table.role)
        .where(staff_table.class_id == class_id, staff_table.user_id == user_id)
        .scalar_subquery()
        if staff_possible
        else db.null()
    )
    role = db.case((teacher_id == user_id, db.literal(OWNER)), else_=staff)
    enrolled = (
        select(enrolments.id)
        .where(enrolments.class_id == class_id, enrolments.user_id == user_id)
        .exists()
    )
    block = (
        select(blocks.scope)
        .where(
            blocks.user_id == user_id,
            block_in_force(now, blocks),
            or_(blocks.scope == "site", blocks.class_id == class_id),
        )
        .order_by(blocks.scope.desc(), blocks.id)  # 'site' before 'class'
        .limit(1)
    )
    return [
        role.label("staff_role"),
        enrolled.label("enrolled"),
        block.scalar_subquery().label("block_scope"),
        block.with_only_columns(blocks.reason).scalar_subquery().label("block_reason"),
    ]


def standing_of(values: Any) -> Standing:
    role, enrolled, scope, reason = values
    return Standing(role, bool(enrolled), scope, reason)


def require_member(actor: User, standing: Standing) -> None:
    """is_member on a read standing: 404, so ids of other classes do not leak."""
    if not (moderates(actor, standing.staff_role) or standing.enrolled):
        raise NotFound("no such class occurrence")


def can_own_class(actor: User, klass: Class) -> bool:
    """Delete (cancel) the class and change its staff: the owner and administrators only."""
    return actor.is_admin or klass.teacher_id == actor.id


def require_class_owner(actor: User, klass: Class) -> None:
    if not can_own_class(actor, klass):
        raise Forbidden("only this class's owner or an administrator can do this")


def can_manage_class(actor: User, klass: Class) -> bool:
    """Teach the class: start, end, edit, attendance, feedback, slides, recordings, students.

    The owner, co-teachers and administrators."""
    if actor.is_admin:
        return True
    return manages(actor, staff_role(actor, klass))


def require_class_manager(actor: User, klass: Class) -> None:
    if not can_manage_class(actor, klass):
        raise Forbidden("only this class's teachers or an administrator can do this")


def can_moderate_class(actor: User, klass: Class) -> bool:
    """Moderate a running class (chat, polls, floor, waiting room): teachers and assistants."""
    return actor.is_admin or moderates(actor, staff_role(actor, klass))


def require_class_moderator(actor: User, klass: Class) -> None:
    if not can_moderate_class(actor, klass):
        raise Forbidden("only this class's teachers and assistants can do this")


def staffed_by(user_id: int, *, assistants: bool = True) -> ColumnElement[bool]:
    """Filter on Class: the classes this user owns, co-teaches or (if `assistants`) assists.

    One IN over the union of both lists of class ids, each read by its own index: written as
    `teacher_id = u OR id IN (staff)`, PostgreSQL could use neither index and walked the
    occurrences by time instead (a teacher's month of 100,000 classes: 70 ms, not 1)."""
    roles = [StaffRole.CO_TEACHER.value] + ([StaffRole.ASSISTANT.value] if assistants else [])
    owned = Class.__table__.alias("owned")
    staff = select(ClassStaff.class_id).where(
        ClassStaff.user_id == user_id, ClassStaff.role.in_(roles)
    )
    return Class.id.in_(select(owned.c.id).where(owned.c.teacher_id == user_id).union(staff))


def staff_roles(klass: Class) -> dict[int, str]:
    """Everyone who teaches this class, by user id: the owner and its staff with their roles."""
    rows = db.session.execute(
        select(ClassStaff.user_id, ClassStaff.role).where(ClassStaff.class_id == klass.id)
    ).all()
    return {klass.teacher_id: OWNER, **{user_id: role for user_id, role in rows}}


def is_enrolled(user: User, class_id: int) -> bool:
    return (
        db.session.execute(
            db.select(Enrolment.id).filter_by(class_id=class_id, user_id=user.id)
        ).first()
        is not None
    )


def is_member(user: User, klass: Class) -> bool:
    return can_moderate_class(user, klass) or is_enrolled(user, klass.id)


def get_class_for(actor: User, class_id: int) -> Class:
    """The class if the actor may see it; 404 otherwise so ids of other classes do not leak."""
    klass = db.session.get(Class, class_id)
    if klass is None or not is_member(actor, klass):
        raise NotFound("no such class")
    return klass


def block_in_force(at: Any = None, blocks: Any = None) -> ColumnElement[bool]:
    """The one definition of "this block applies now": not lifted and not expired.

    Every query about blocks (the access check, reminder recipients, admin lists) uses it.
    `at` may be a bind parameter; `blocks` the table's Core columns for a Core statement
    (default: the mapped class).
    """
    at = at if at is not None else utcnow()
    blocks = BlockedUser if blocks is None else blocks
    return and_(
        blocks.lifted_at.is_(None),
        or_(blocks.expires_at.is_(None), blocks.expires_at > at),
    )


def blocked_user_ids(class_id: int | None = None, at: datetime | None = None) -> Select[int]:
    """Ids of users blocked site-wide (or in this class), as a subquery for `not_in`."""
    scope_filter: ColumnElement[bool] = BlockedUser.scope == "site"
    if class_id is not None:
        scope_filter = or_(scope_filter, BlockedUser.class_id == class_id)
    return select(BlockedUser.user_id).where(block_in_force(at), scope_filter)


def active_site_blocks(user_ids: list[int], at: datetime | None = None) -> dict[int, BlockedUser]:
    """The site-wide block in force for each of these users (users without one are absent)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(BlockedUser).where(
            BlockedUser.user_id.in_(user_ids), BlockedUser.scope == "site", block_in_force(at)
        )
    ).scalars()
    return {b.user_id: b for b in rows}


def active_block(
    user: User, class_id: int | None = None, at: datetime | None = None
) -> BlockedUser | None:
    """The block that applies to the user site-wide or in this class, if any."""
    scope_filter: ColumnElement[bool] = BlockedUser.scope == "site"
    if class_id is not None:
        scope_filter = or_(scope_filter, BlockedUser.class_id == class_id)
    return db.session.execute(
        select(BlockedUser)
        .where(BlockedUser.user_id == user.id, block_in_force(at), scope_filter)
        .order_by(BlockedUser.scope.desc())  # 'site' before 'class'
        .limit(1)
    ).scalar_one_or_none()


def blocked_from(user: User, class_ids: Collection[int], at: datetime | None = None) -> set[int]:
    """Which of these classes the user is blocked from now (all of them under a site block);
    one query, for lists such as the dashboard that must not offer a Join they would refuse."""
    wanted = set(class_ids)
    if not wanted:
        return set()
    rows = db.session.execute(
        select(BlockedUser.scope, BlockedUser.class_id).where(
            BlockedUser.user_id == user.id,
            block_in_force(at),
            or_(BlockedUser.scope == "site", BlockedUser.class_id.in_(wanted)),
        )
    ).all()
    if any(scope == "site" for scope, _ in rows):
        return wanted
    return {class_id for _, class_id in rows if class_id is not None}


def require_not_blocked(user: User, class_id: int | None = None) -> None:
    block = active_block(user, class_id)
    if block is not None:
        raise_blocked(block.scope, block.reason)


def raise_blocked(scope: str | None, reason: str | None) -> None:
    """The refusal of a blocked user (scope "site" or "class"); nothing when `scope` is None."""
    if scope is not None:
        message = (
            gettext("you are blocked on this portal: %(reason)s", reason=reason)
            if scope == "site"
            else gettext("you are blocked from this class: %(reason)s", reason=reason)
        )
        raise Forbidden(message, code="blocked")
