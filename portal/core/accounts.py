"""Accounts: password reset by email, invitations, self sign-up with admin approval.

Every emailed link is one signed token (itsdangerous, the app's SECRET_KEY) naming the user,
its purpose and a fingerprint of the account's password hash and token generation. Setting
a password changes both, so a link works once; re-inviting raises the generation, so the
earlier invitation stops working. Nothing secret is stored: the token is rebuilt from the
account when the message is composed.

The messages go out through the notifications table like every other email (kinds in
ACCOUNT_KINDS), composed by `compose_account_message`.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.core import access, audit, auth_tokens
from portal.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.core.models import AccountStatus, Notification, User
from portal.core.notifications.planning import insert_ignoring_duplicates
from portal.core.notifications.states import NotificationKind as Kind
from portal.core.security import hash_password
from portal.core.settings import get_setting
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext, lazy_gettext, recipient_locale
from portal.plugins.types import NotificationMessage

RESET = "reset"
INVITE = "invite"
DEFAULT_LINK_LIFETIMES = {RESET: timedelta(hours=1), INVITE: timedelta(days=7)}
# At most this many reset emails per account per hour, whoever asks: the same answer is
# given either way, so a flood of requests cannot flood someone's mailbox.
RESETS_PER_HOUR = 3

# The one answer to every reset request and sign-up, whatever the address (pages and API).
RESET_ANSWER = (
    "If this address has an account, an email with a link to choose a new password is on its way."
)
SIGN_UP_ANSWER = "Thank you. An administrator will look at your request; you will get an email."

ACCOUNT_KINDS = (
    Kind.PASSWORD_RESET,
    Kind.ACCOUNT_INVITATION,
    Kind.SIGN_UP_APPROVED,
    Kind.SIGN_UP_REFUSED,
)


class SignUpMode(StrEnum):
    """The `sign_up` site setting: may people create their own account?"""

    CLOSED = "closed"  # accounts come from administrators (create, CSV import) or SSO
    INVITE_ONLY = "invite_only"  # ditto; the login page says to ask for an invitation
    OPEN_WITH_APPROVAL = "open_with_approval"  # a sign-up page; an admin approves each one


SIGN_UP_LABELS = {
    SignUpMode.CLOSED: "Closed: administrators create accounts",
    SignUpMode.INVITE_ONLY: "By invitation only",
    SignUpMode.OPEN_WITH_APPROVAL: "Open: anyone may sign up, an administrator approves",
}


def sign_up_mode() -> SignUpMode:
    value = get_setting("sign_up")
    try:
        return SignUpMode(value) if value else SignUpMode.CLOSED
    except ValueError:
        return SignUpMode.CLOSED


# -- signed links ---------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="portal.account-link")


def _lifetime(purpose: str) -> timedelta:
    configured = current_app.config.get(f"ACCOUNT_{purpose.upper()}_LINK_SECONDS")
    if configured:
        return timedelta(seconds=int(configured))
    return DEFAULT_LINK_LIFETIMES[purpose]


def _fingerprint(user: User) -> str:
    material = f"{user.id}:{user.password_hash or ''}:{user.token_generation or 0}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def link_token(user: User, purpose: str) -> str:
    """A signed link token for `user`: valid until used, superseded or expired."""
    return _serializer().dumps({"u": user.id, "p": purpose, "f": _fingerprint(user)})


def link_url(user: User, purpose: str) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}/password/set/{link_token(user, purpose)}"


def read_link(token: str) -> tuple[User, str]:
    """The user and purpose of a valid link; a clear error for an expired or used one."""
    longest = max(_lifetime(RESET), _lifetime(INVITE))
    try:
        data, signed_at = _serializer().loads(
            token, max_age=int(longest.total_seconds()), return_timestamp=True
        )
        user_id, purpose, fingerprint = int(data["u"]), str(data["p"]), str(data["f"])
    except SignatureExpired as exc:
        raise ValidationFailed(
            "this link has expired: ask for a new one", code="link_expired"
        ) from exc
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed("this link is not valid", code="invalid_link") from exc
    if purpose not in DEFAULT_LINK_LIFETIMES:
        raise ValidationFailed("this link is not valid", code="invalid_link")
    if utcnow() - signed_at > _lifetime(purpose):
        raise ValidationFailed("this link has expired: ask for a new one", code="link_expired")
    user = db.session.get(User, user_id)
    if user is None or _fingerprint(user) != fingerprint:
        raise ValidationFailed(
            "this link was already used or replaced by a newer one: ask for a new one",
            code="link_used",
        )
    if purpose == RESET and not user.is_active:
        raise ValidationFailed("this account is disabled", code="account_disabled")
    if purpose == INVITE and user.account_status != AccountStatus.INVITED:
        raise ValidationFailed(
            "this invitation was already accepted or withdrawn", code="link_used"
        )
    return user, purpose


def set_password_from_link(token: str, new_password: str) -> User:
    """Set the password a reset or invitation link allows; the link is then used up, and
    every session the account had ends. An invited account becomes active."""
    from portal.core.users import check_password_strength

    user, purpose = read_link(token)
    check_password_strength(new_password)
    user.password_hash = hash_password(new_password)
    auth_tokens.revoke_all_for_user(user.id)
    if purpose == INVITE:
        user.is_active, user.account_status = True, None
        audit.record(user, "user.invitation_accepted", "user", user.id)
    else:
        audit.record(user, "user.password_reset", "user", user.id)
    return user


# -- messages ------------------------------------------------------------------------------


def _queue_account_email(user: User, kind: str) -> None:
    # Unique per send: NULL schedule ids never collide, the key keeps rows apart anyway.
    insert_ignoring_duplicates(
        [
            {
                "user_id": user.id,
                "schedule_id": None,
                "kind": kind,
                "channel": "email",
                "key": f"{utcnow().timestamp():.6f}",
                "due_at": utcnow(),
            }
        ]
    )


def _recent_resets(user: User) -> int:
    return db.session.execute(
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.kind == Kind.PASSWORD_RESET,
            Notification.created_at > utcnow() - timedelta(hours=1),
        )
    ).scalar_one()


def request_password_reset(email: str) -> None:
    """Email a reset link to the account with this address, if there is a usable one.

    The caller gives everyone the same answer: nothing here raises or returns anything that
    tells whether the address has an account."""
    from portal.core.users import normalise_email

    try:
        address = normalise_email(email)
    except ValidationFailed:
        return
    user = db.session.execute(sa.select(User).where(User.email == address)).scalar_one_or_none()
    if user is None or not user.is_active or _recent_resets(user) >= RESETS_PER_HOUR:
        return
    _queue_account_email(user, Kind.PASSWORD_RESET)
    audit.record(None, "user.password_reset_requested", "user", user.id)


def invite_user(actor: User, *, email: str, name: str, role: str = "student") -> User:
    """Invite someone by email to set their own password. Inviting an address already
    invited sends a new link and voids the earlier one."""
    from portal.core.users import create_user, normalise_email

    access.require_admin(actor)
    address = normalise_email(email)
    user = db.session.execute(sa.select(User).where(User.email == address)).scalar_one_or_none()
    if user is not None and user.account_status != AccountStatus.INVITED:
        raise Conflict(
            gettext("a user with email %(email)s already exists", email=address), code="email_taken"
        )
    if user is None:
        user = create_user(actor, email=address, name=name, role=role)
        user.is_active, user.account_status = False, AccountStatus.INVITED.value
    else:
        auth_tokens.revoke_all_for_user(user.id)  # the earlier link stops working
        audit.record(actor, "user.reinvite", "user", user.id)
    audit.record(actor, "user.invite", "user", user.id, role=user.role)
    db.session.flush()
    _queue_account_email(user, Kind.ACCOUNT_INVITATION)
    return user


def sign_up(*, email: str, name: str, password: str) -> None:
    """Self sign-up (site setting open_with_approval): a pending account an administrator
    approves or refuses. An address that has an account gets the same answer, no change."""
    from portal.core.users import check_password_strength, create_user, normalise_email

    if sign_up_mode() != SignUpMode.OPEN_WITH_APPROVAL:
        raise Forbidden(
            "this portal does not take sign-ups: ask your school for an account",
            code="sign_up_closed",
        )
    address = normalise_email(email)
    if not name.strip():
        raise ValidationFailed("name must not be empty", code="invalid_name")
    check_password_strength(password)
    if db.session.execute(sa.select(User.id).where(User.email == address)).first():
        return
    user = create_user(None, email=address, name=name, role="student", password=password)
    user.is_active, user.account_status = False, AccountStatus.PENDING.value
    audit.record(None, "user.sign_up", "user", user.id)


def pending_sign_ups(actor: User) -> list[User]:
    access.require_admin(actor)
    return list(
        db.session.execute(
            sa.select(User)
            .where(User.account_status == AccountStatus.PENDING.value)
            .order_by(User.created_at, User.id)
        ).scalars()
    )


def decide_sign_up(actor: User, user_id: int, *, approve: bool) -> User:
    """Approve (the account becomes active) or refuse a pending sign-up; the person is told
    by email either way."""
    access.require_admin(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.account_status != AccountStatus.PENDING:
        raise Conflict("this account is not waiting for approval", code="not_pending")
    if approve:
        user.is_active, user.account_status = True, None
    else:
        user.account_status = AccountStatus.REFUSED.value
    audit.record(actor, "user.sign_up_decision", "user", user.id, approved=approve)
    db.session.flush()
    _queue_account_email(user, Kind.SIGN_UP_APPROVED if approve else Kind.SIGN_UP_REFUSED)
    return user


# Translated when composed, in the recipient's language.
SUBJECTS = {
    Kind.PASSWORD_RESET: lazy_gettext("Reset your password"),
    Kind.ACCOUNT_INVITATION: lazy_gettext("You are invited to %(school)s"),
    Kind.SIGN_UP_APPROVED: lazy_gettext("Your account is ready"),
    Kind.SIGN_UP_REFUSED: lazy_gettext("Your sign-up was not accepted"),
}


def compose_account_message(row: Notification, user: User) -> NotificationMessage:
    """The email of an account row. No unsubscribe link: these are not notifications one
    can opt out of, the person asked for them (or an administrator did)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    school = get_setting("school_name") or current_app.config.get("SCHOOL_NAME") or "the portal"
    context: dict[str, Any] = {
        "kind": row.kind,
        "user": user,
        "school_name": school,
        "portal_url": f"{base}/",
        "login_url": f"{base}/login",
        "link_minutes": None,
    }
    if row.kind in (Kind.PASSWORD_RESET, Kind.ACCOUNT_INVITATION):
        purpose = RESET if row.kind == Kind.PASSWORD_RESET else INVITE
        context["link_url"] = link_url(user, purpose)
        context["link_hours"] = int(_lifetime(purpose).total_seconds() // 3600) or 1
    env = current_app.jinja_env
    return NotificationMessage(
        channel=row.channel,
        recipient=user.email,
        subject=str(SUBJECTS[Kind(row.kind)]).replace("%(school)s", school),
        text=env.get_template("notifications/account.txt").render(**context),
        html=env.get_template("notifications/account.html").render(**context),
        attachments=[],
        notification_id=row.id,
        metadata={
            "kind": row.kind,
            "user_id": user.id,
            "school_name": school,
            "locale": recipient_locale(user),
        },
    )


def unwanted_account_reason(row: Notification, user: User | None) -> str | None:
    """Account emails ignore notification preferences; they only need their account."""
    if user is None:
        return "the user is gone"
    if row.kind == Kind.PASSWORD_RESET and not user.is_active:
        return "the user is disabled"
    if row.kind == Kind.ACCOUNT_INVITATION and user.account_status != AccountStatus.INVITED:
        return "the invitation was accepted or withdrawn"
    return None
