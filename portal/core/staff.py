"""A class's co-teachers and teaching assistants: who they are and who may change them.

What each role may do lives in portal/core/access.py; this module only keeps the list."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.core import access, audit, signals
from portal.core.errors import NotFound, ValidationFailed
from portal.core.models import ClassStaff, Role, StaffRole, User
from portal.extensions import db
from portal.i18n import gettext

STAFF_ROLES = tuple(r.value for r in StaffRole)


def list_staff(actor: User, class_id: int) -> list[ClassStaff]:
    """The class's co-teachers and assistants, for anyone who teaches or moderates it."""
    klass = access.get_class_for(actor, class_id)
    access.require_class_moderator(actor, klass)
    return list(
        db.session.execute(
            select(ClassStaff).where(ClassStaff.class_id == klass.id).order_by(ClassStaff.id)
        ).scalars()
    )


def add_staff(actor: User, class_id: int, email: str, role: str) -> ClassStaff:
    """Add a teacher of the school as co-teacher or assistant (or change their role).

    Only the class's owner and administrators change its staff."""
    klass = access.get_class_for(actor, class_id)
    access.require_class_owner(actor, klass)
    if role not in STAFF_ROLES:
        raise ValidationFailed(
            gettext("role must be one of %(roles)s", roles=", ".join(STAFF_ROLES)),
            code="invalid_staff_role",
        )
    address = (email or "").strip().lower()
    user = db.session.execute(
        select(User).where(func.lower(User.email) == address)
    ).scalar_one_or_none()
    # One answer for unknown addresses and for students: it must not tell who has an account.
    if user is None or user.role != Role.TEACHER.value or not user.is_active:
        raise ValidationFailed("no teacher of this school has that email", code="not_a_teacher")
    if user.id == klass.teacher_id:
        raise ValidationFailed("the class's owner already teaches it", code="already_owner")
    row = db.session.execute(
        select(ClassStaff).filter_by(class_id=klass.id, user_id=user.id)
    ).scalar_one_or_none()
    if row is None:
        row = ClassStaff(class_id=klass.id, user_id=user.id, role=role, added_by=actor.id)
        db.session.add(row)
    else:
        row.role = role
    db.session.flush()
    audit.record(actor, "class.staff_add", "class", klass.id, user_id=user.id, role=role)
    return row


def remove_staff(actor: User, class_id: int, user_id: int) -> None:
    """Take a co-teacher or assistant off the class; their open room connections are cut."""
    klass = access.get_class_for(actor, class_id)
    access.require_class_owner(actor, klass)
    row = db.session.execute(
        select(ClassStaff).filter_by(class_id=klass.id, user_id=user_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("that user is not on this class's staff")
    user = row.user
    db.session.delete(row)
    audit.record(actor, "class.staff_remove", "class", klass.id, user_id=user_id)
    signals.enrolment_changed.send(klass, users=[user], enrolled=False)
