"""Who may do what. Every service calls these; views never decide permissions alone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select

from portal.core.errors import Forbidden, NotFound
from portal.core.models import BlockedUser, Class, Enrolment, Role, User
from portal.core.types import utcnow
from portal.extensions import db


def require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise Forbidden("only an administrator can do this")


def require_teacher(actor: User) -> None:
    if actor.role not in (Role.TEACHER.value, Role.ADMIN.value):
        raise Forbidden("only teachers and administrators can do this")


def can_manage_class(actor: User, klass: Class) -> bool:
    return actor.is_admin or klass.teacher_id == actor.id


def require_class_manager(actor: User, klass: Class) -> None:
    if not can_manage_class(actor, klass):
        raise Forbidden("only this class's teacher or an administrator can do this")


def is_enrolled(user: User, class_id: int) -> bool:
    return (
        db.session.execute(
            db.select(Enrolment.id).filter_by(class_id=class_id, user_id=user.id)
        ).first()
        is not None
    )


def is_member(user: User, klass: Class) -> bool:
    return can_manage_class(user, klass) or is_enrolled(user, klass.id)


def get_class_for(actor: User, class_id: int) -> Class:
    """The class if the actor may see it; 404 otherwise so ids of other classes do not leak."""
    klass = db.session.get(Class, class_id)
    if klass is None or not is_member(actor, klass):
        raise NotFound("no such class")
    return klass


def block_in_force(at: datetime | None = None) -> ColumnElement[bool]:
    """The one definition of "this block applies now": not lifted and not expired.

    Every query about blocks (the access check, reminder recipients, admin lists) uses it.
    """
    at = at or utcnow()
    return and_(
        BlockedUser.lifted_at.is_(None),
        or_(BlockedUser.expires_at.is_(None), BlockedUser.expires_at > at),
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


def require_not_blocked(user: User, class_id: int | None = None) -> None:
    block = active_block(user, class_id)
    if block is not None:
        where = "on this portal" if block.scope == "site" else "from this class"
        raise Forbidden(f"you are blocked {where}: {block.reason}", code="blocked")
