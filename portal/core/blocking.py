"""Blocking users site-wide (admins) or from one class (its teacher)."""

from __future__ import annotations

from datetime import datetime

from portal.core import access, audit, signals
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.core.models import BlockedUser, Class, User
from portal.core.types import utcnow
from portal.extensions import db


def block_user(
    actor: User,
    *,
    user_id: int,
    scope: str,
    reason: str,
    class_id: int | None = None,
    expires_at: datetime | None = None,
) -> BlockedUser:
    target = db.session.get(User, user_id)
    if target is None:
        raise NotFound("no such user")
    if not reason.strip():
        raise ValidationFailed("give a reason for the block", code="reason_required")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise ValidationFailed("expires_at must be a future time with a time zone offset")
    if scope == "site":
        access.require_admin(actor)
        class_id = None
    elif scope == "class":
        if class_id is None:
            raise ValidationFailed("class_id is required for a class block")
        klass = access.get_class_for(actor, class_id)
        access.require_class_manager(actor, klass)
        if access.staff_role(target, klass) is not None:
            raise ValidationFailed("a teacher cannot be blocked from their own class")
    else:
        raise ValidationFailed("scope must be 'site' or 'class'")
    if target.id == actor.id:
        raise ValidationFailed("you cannot block yourself")
    if target.is_admin and not actor.is_admin:
        raise NotFound("no such user")
    existing = (
        access.active_block(target, class_id) if scope == "class" else access.active_block(target)
    )
    if existing is not None and existing.scope == scope and existing.class_id == class_id:
        raise Conflict("this user is already blocked here", code="already_blocked")
    block = BlockedUser(
        user_id=target.id,
        scope=scope,
        class_id=class_id,
        reason=reason.strip(),
        blocked_by=actor.id,
        expires_at=expires_at,
    )
    db.session.add(block)
    db.session.flush()
    audit.record(
        actor, "user.block", "user", target.id, scope=scope, class_id=class_id, reason=block.reason
    )
    signals.block_changed.send(block, blocked=True)
    return block


def unblock(actor: User, block_id: int) -> BlockedUser:
    block = db.session.get(BlockedUser, block_id)
    if block is None or not _may_manage(actor, block):
        raise NotFound("no such block")
    if block.lifted_at is None:
        block.lifted_at = utcnow()
        block.lifted_by = actor.id
        audit.record(
            actor, "user.unblock", "user", block.user_id, scope=block.scope, class_id=block.class_id
        )
        signals.block_changed.send(block, blocked=False)
    return block


def _may_manage(actor: User, block: BlockedUser) -> bool:
    if actor.is_admin:
        return True
    if block.scope == "class":
        klass = db.session.get(Class, block.class_id)
        return klass is not None and access.can_manage_class(actor, klass)
    return False


def list_blocks(
    actor: User, *, class_id: int | None = None, active_only: bool = True
) -> list[BlockedUser]:
    access.require_teacher(actor)
    stmt = db.select(BlockedUser).order_by(BlockedUser.id.desc())
    if class_id is not None:
        klass = access.get_class_for(actor, class_id)
        access.require_class_manager(actor, klass)
        stmt = stmt.where(BlockedUser.class_id == class_id)
    elif not actor.is_admin:
        stmt = stmt.join(Class, Class.id == BlockedUser.class_id).where(
            access.staffed_by(actor.id, assistants=False)
        )
    if active_only:
        stmt = stmt.where(access.block_in_force())
    return list(db.session.execute(stmt.limit(500)).scalars())
