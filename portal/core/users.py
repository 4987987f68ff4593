"""Users: creation, profile changes, password login, provisioning from auth providers."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from portal.core import access, audit, auth_tokens
from portal.core.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from portal.core.models import Enrolment, Role, User, UserIdentity
from portal.core.security import hash_password, password_needs_rehash, verify_password
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext
from portal.plugins.types import ExternalIdentity

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            gettext("invalid email address: %(reason)s", reason=str(exc)), code="invalid_email"
        ) from exc


def normalise_phone(phone: str | None) -> str | None:
    """Phone numbers are stored in E.164 (+33612345678) so SMS providers accept them."""
    if phone is None or not phone.strip():
        return None
    compact = re.sub(r"[\s().-]", "", phone.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not E164.match(compact):
        raise ValidationFailed(
            "phone number must be in international format, e.g. +33612345678",
            code="invalid_phone",
        )
    return compact


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            gettext("password must be at least %(count)s characters", count=MIN_PASSWORD_LENGTH),
            code="weak_password",
        )


def _role(value: str) -> str:
    try:
        return Role(value).value
    except ValueError as exc:
        raise ValidationFailed(
            "role must be admin, teacher or student", code="invalid_role"
        ) from exc


def create_user(
    actor: User | None,
    *,
    email: str,
    name: str,
    role: str = "student",
    password: str | None = None,
    phone: str | None = None,
    timezone: str | None = None,
) -> User:
    """Create a user. `actor` None means the system (CLI, seeding, provisioning)."""
    if actor is not None:
        access.require_admin(actor)
    email = normalise_email(email)
    if not name.strip():
        raise ValidationFailed("name must not be empty")
    if password is not None:
        check_password_strength(password)
    if db.session.execute(db.select(User.id).filter_by(email=email)).first():
        raise Conflict(
            gettext("a user with email %(email)s already exists", email=email), code="email_taken"
        )
    user = User(
        email=email,
        name=name.strip(),
        role=_role(role),
        phone=normalise_phone(phone),
        timezone=timezone,
        password_hash=hash_password(password) if password else None,
        calendar_token=secrets.token_urlsafe(24),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, role=user.role)
    return user


def authenticate(email: str, password: str) -> User:
    """Password login. The same error for unknown email and wrong password.

    Repeated failures for one account make the next attempts wait (login_guard, 429).
    """
    from portal.core import login_guard

    try:
        email = normalise_email(email)
    except ValidationFailed:
        email = ""
    login_guard.check(email)
    user = (
        db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
        if email
        else None
    )
    # Exactly one hash verification whoever asks: a missing, disabled or SSO-only account is
    # checked against the dummy hash (verify_password(None, ...)), so neither the answer nor
    # the time taken tells which emails have a usable account.
    usable_hash = user.password_hash if user is not None and user.is_active else None
    if not verify_password(usable_hash, password) or user is None or usable_hash is None:
        if email:
            login_guard.record_failure(email)
        raise NotAuthenticated("wrong email or password", code="invalid_credentials")
    login_guard.record_success(email)
    if password_needs_rehash(usable_hash):
        user.password_hash = hash_password(password)
    return user


def get_user_for(actor: User, user_id: int) -> User:
    """Users see themselves; teachers see the students of their classes; admins see all."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if actor.is_admin or actor.id == user.id:
        return user
    if actor.role == Role.TEACHER.value and _teaches(actor, user):
        return user
    raise NotFound("no such user")


def _teaches(teacher: User, student: User) -> bool:
    return (
        db.session.execute(
            _taught_students(teacher).where(Enrolment.user_id == student.id).limit(1)
        ).first()
        is not None
    )


def _taught_students(teacher: User):
    """Ids of the students enrolled in a class `teacher` teaches (a subquery)."""
    from portal.core.models import Class

    return (
        db.select(Enrolment.user_id)
        .join(Class, Class.id == Enrolment.class_id)
        .where(access.staffed_by(teacher.id))
    )


def list_users(
    actor: User,
    *,
    role: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[User], int]:
    """Admins list everyone; teachers can search students to enrol them (see `directory`
    for what a teacher may see of each)."""
    access.require_teacher(actor)
    stmt = db.select(User)
    if not actor.is_admin:
        stmt = stmt.where(User.role == Role.STUDENT.value, User.is_active.is_(True))
    if role:
        stmt = stmt.where(User.role == _role(role))
    if query:
        text = query.strip().lower()
        like = f"%{text}%"
        by_name = db.func.lower(User.name).like(like)
        if actor.is_admin:
            stmt = stmt.where(db.or_(by_name, User.email.like(like)))
        else:
            # Teachers find a student by name or by the whole address; matching parts of the
            # addresses of students they do not teach would spell those addresses out.
            stmt = stmt.where(
                db.or_(
                    by_name,
                    User.email == text,
                    db.and_(User.email.like(like), User.id.in_(_taught_students(actor))),
                )
            )
    total = db.session.execute(db.select(db.func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(
        stmt.order_by(User.name, User.id).limit(limit).offset(offset)
    ).scalars()
    return list(rows), total


@dataclass(frozen=True)
class DirectoryEntry:
    """A user as the directory shows them to one actor."""

    user: User
    email: str  # the address, or a masked one ("j***@school.example")
    email_masked: bool
    phone: str | None


def mask_email(email: str) -> str:
    """Enough to tell two students with the same name apart, not enough to write to them."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def directory(
    actor: User,
    *,
    role: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DirectoryEntry], int]:
    """`list_users` with each person's contact data as far as `actor` may see it.

    Admins see everyone's. A teacher sees the email and phone of the students in their own
    classes; of any other student the name and a masked email only (the whole address if
    they searched for exactly that address: they know it already), never the phone.
    """
    from portal.core.privacy import access_log

    rows, total = list_users(actor, role=role, query=query, limit=limit, offset=offset)
    if actor.is_admin:
        access_log.contact_read(actor, rows)
        return [DirectoryEntry(user, user.email, False, user.phone) for user in rows], total
    taught = (
        set(
            db.session.execute(
                _taught_students(actor).where(Enrolment.user_id.in_([user.id for user in rows]))
            ).scalars()
        )
        if rows
        else set()
    )
    searched = (query or "").strip().lower()
    entries = []
    for user in rows:
        if user.id in taught:
            entries.append(DirectoryEntry(user, user.email, False, user.phone))
        elif user.email == searched:
            entries.append(DirectoryEntry(user, user.email, False, None))
        else:
            entries.append(DirectoryEntry(user, mask_email(user.email), True, None))
    access_log.contact_read(actor, [e.user for e in entries if not e.email_masked])
    return entries, total


def read_user(actor: User, user_id: int) -> User:
    """`get_user_for` for showing the user's contact data: a read of someone else's is
    audit-logged (who looked)."""
    from portal.core.privacy import access_log

    user = get_user_for(actor, user_id)
    access_log.contact_read(actor, [user])
    return user


@dataclass
class ProfileChanges:
    name: str | None = None
    phone: str | None = None
    timezone: str | None = None
    locale: str | None = None  # "" clears the choice
    notify_email: bool | None = None
    notify_sms: bool | None = None
    # {channel: on} for any registered channel; notify_email / notify_sms are short for two
    channels: dict[str, bool] | None = None
    clear_phone: bool = False


def update_profile(actor: User, user_id: int, changes: ProfileChanges) -> User:
    user = get_user_for(actor, user_id)
    if not (actor.is_admin or actor.id == user.id):
        raise NotFound("no such user")
    if changes.name is not None:
        if not changes.name.strip():
            raise ValidationFailed("name must not be empty")
        user.name = changes.name.strip()
    if changes.clear_phone:
        user.phone = None
    elif changes.phone is not None:
        user.phone = normalise_phone(changes.phone)
    if changes.timezone is not None:
        from portal.core.timezones import check_timezone

        user.timezone = check_timezone(changes.timezone)
    if changes.locale is not None:
        user.locale = check_locale(changes.locale)
    choices = dict(changes.channels or {})
    if changes.notify_email is not None:
        choices["email"] = changes.notify_email
    if changes.notify_sms is not None:
        choices["sms"] = changes.notify_sms
    if choices:
        from portal.core.notifications.channels import choose

        choose(user, choices)
    return user


def check_locale(code: str) -> str | None:
    """A language the portal speaks, or None for "automatic" (an empty choice)."""
    from portal.i18n import LANGUAGES, _

    code = code.strip()
    if not code:
        return None
    if code not in LANGUAGES:
        raise ValidationFailed(
            _("unknown language: choose one of %(choices)s", choices=", ".join(LANGUAGES)),
            code="invalid_locale",
        )
    return code


def change_password(actor: User, current_password: str, new_password: str) -> None:
    if actor.password_hash and not verify_password(actor.password_hash, current_password):
        raise ValidationFailed("current password is wrong", code="invalid_credentials")
    check_password_strength(new_password)
    actor.password_hash = hash_password(new_password)
    # Whoever else holds a session (perhaps the reason for the change) is signed out; the
    # caller may give the session that changed the password fresh tokens.
    auth_tokens.revoke_all_for_user(actor.id)
    audit.record(actor, "user.password", "user", actor.id)


def admin_update(
    actor: User, user_id: int, *, role: str | None = None, is_active: bool | None = None
) -> User:
    access.require_admin(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.id == actor.id and (role not in (None, "admin") or is_active is False):
        raise Conflict("administrators cannot demote or disable themselves", code="self_demotion")
    if role is not None and role != user.role:
        audit.record(actor, "user.role", "user", user.id, before=user.role, after=_role(role))
        user.role = _role(role)
    if is_active is not None and is_active != user.is_active:
        audit.record(actor, "user.active", "user", user.id, active=is_active)
        user.is_active = is_active
        if not is_active:
            # Ended for good: reactivating the account later must not revive these sessions.
            auth_tokens.revoke_all_for_user(user.id)
    return user


def reset_calendar_token(actor: User) -> str:
    actor.calendar_token = secrets.token_urlsafe(24)
    return actor.calendar_token


def provision_identity(
    identity: ExternalIdentity, role_mapping: dict[str, str] | None = None
) -> tuple[User, bool]:
    """Find or create the user an auth provider vouches for (linked by provider subject).

    Later logins refresh name, email, phone and role, so the main website stays the source
    of truth. Returns (user, created).
    """
    from portal.core.registry import hook

    role = (role_mapping or {}).get(identity.role, identity.role)
    link = db.session.execute(
        db.select(UserIdentity).filter_by(provider=identity.provider, subject=identity.subject)
    ).scalar_one_or_none()
    email = normalise_email(identity.email)
    phone = normalise_phone(identity.phone) if identity.phone else None
    created = link is None
    if link is None:
        if db.session.execute(db.select(User.id).filter_by(email=email)).first():
            # Never link by email alone: an attacker controlling an insp email must not take over.
            raise Conflict(
                "a portal account with this email already exists and is not linked to this "
                "sign-in; ask an administrator to link it",
                code="identity_conflict",
            )
        user = create_user(None, email=email, name=identity.name, role=role, phone=phone)
        link = UserIdentity(user_id=user.id, provider=identity.provider, subject=identity.subject)
        db.session.add(link)
    else:
        user = db.session.get_one(User, link.user_id)
        if email != user.email:
            clash = db.session.execute(
                db.select(User.id).filter_by(email=email)
            ).scalar_one_or_none()
            if clash is not None and clash != user.id:
                raise Conflict("another portal account uses this email", code="email_taken")
            user.email = email
        user.name = identity.name.strip() or user.name
        if phone:
            user.phone = phone
        if _role(role) != user.role:
            audit.record(
                None,
                "user.role",
                "user",
                user.id,
                before=user.role,
                after=role,
                via=identity.provider,
            )
            user.role = _role(role)
    if not user.is_active:
        raise NotAuthenticated("this account is disabled", code="account_disabled")
    link.last_login_at = utcnow()
    db.session.flush()
    from portal.core.snapshots import user_info

    hook().user_provisioned(user=user_info(user), identity=identity, created=created)
    return user, created
