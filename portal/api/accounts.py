"""Accounts: forgotten passwords, emailed links, invitations, sign-up, CSV import."""

from __future__ import annotations

from typing import Literal

from flask import current_app
from pydantic import Field

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import Model, Out, UserOut
from portal.core import accounts, user_import
from portal.core.errors import Unprocessable
from portal.extensions import limiter
from portal.i18n import gettext


def _reset_limit() -> str:
    return current_app.config.get("PASSWORD_RESET_RATE_LIMIT") or "10 per hour"


class PasswordResetIn(Model):
    email: str = Field(min_length=1, max_length=255)


class MessageOut(Out):
    message: str


class PasswordLinkIn(Model):
    token: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1024)


class InviteIn(Model):
    email: str = Field(max_length=255)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "teacher", "student"] = "student"


class SignUpIn(Model):
    email: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class SignUpDecisionIn(Model):
    approve: bool


class UserImportIn(Model):
    csv: str = Field(min_length=1, max_length=user_import.MAX_BYTES)
    dry_run: bool = True


class ImportRowOut(Out):
    line: int
    email: str
    action: Literal["create", "update", "unchanged", "error"]
    message: str
    changes: list[str]


class UserImportOut(Out):
    applied: bool
    counts: dict[str, int]
    rows: list[ImportRowOut]


@endpoint(
    api,
    "/auth/password-reset",
    "POST",
    summary="Email a password reset link (the same answer whether or not the address is known)",
    body=PasswordResetIn,
    response=MessageOut,
    status=202,
    auth=False,
    tags=["auth"],
    errors=[429],
    decorators=[limiter.limit(_reset_limit)],
)
def request_password_reset(body: PasswordResetIn):
    accounts.request_password_reset(body.email)
    return MessageOut(message=accounts.RESET_ANSWER)


@endpoint(
    api,
    "/auth/password-link",
    "POST",
    summary="Set a password with an emailed reset or invitation link (works once)",
    body=PasswordLinkIn,
    response=UserOut,
    auth=False,
    tags=["auth"],
    errors=[429],
    decorators=[limiter.limit(_reset_limit)],
)
def use_password_link(body: PasswordLinkIn):
    return UserOut.model_validate(accounts.set_password_from_link(body.token, body.new_password))


@endpoint(
    api,
    "/auth/sign-up",
    "POST",
    summary="Ask for an account (when the site takes sign-ups); an administrator approves",
    body=SignUpIn,
    response=MessageOut,
    status=202,
    auth=False,
    tags=["auth"],
    errors=[403, 429],
    decorators=[limiter.limit(_reset_limit)],
)
def sign_up(body: SignUpIn):
    accounts.sign_up(email=body.email, name=body.name, password=body.password)
    return MessageOut(message=accounts.SIGN_UP_ANSWER)


@endpoint(
    api,
    "/admin/invitations",
    "POST",
    summary="Invite someone by email to set their own password (again: a new link)",
    body=InviteIn,
    response=UserOut,
    status=201,
    tags=["admin"],
    errors=[409],
)
def invite(body: InviteIn):
    user = accounts.invite_user(current_actor(), **body.model_dump())
    return UserOut.model_validate(user)


@endpoint(
    api,
    "/admin/sign-ups",
    summary="Sign-ups waiting for approval",
    response=list[UserOut],
    tags=["admin"],
)
def list_sign_ups():
    return [UserOut.model_validate(u) for u in accounts.pending_sign_ups(current_actor())]


@endpoint(
    api,
    "/admin/sign-ups/<int:user_id>",
    "POST",
    summary="Approve or refuse a sign-up (the person is emailed)",
    body=SignUpDecisionIn,
    response=UserOut,
    tags=["admin"],
    errors=[409],
)
def decide_sign_up(user_id: int, body: SignUpDecisionIn):
    user = accounts.decide_sign_up(current_actor(), user_id, approve=body.approve)
    return UserOut.model_validate(user)


def import_report_out(report: user_import.ImportReport) -> UserImportOut:
    return UserImportOut(
        applied=report.applied,
        counts=report.counts(),
        rows=[ImportRowOut.model_validate(row) for row in report.rows],
    )


@endpoint(
    api,
    "/admin/users/import",
    "POST",
    summary="Check (dry_run) or apply a CSV of users: email,name,role[,phone,timezone]",
    body=UserImportIn,
    response=UserImportOut,
    tags=["admin"],
    errors=[422],
)
def import_users(body: UserImportIn):
    report = user_import.import_users(current_actor(), body.csv, apply=not body.dry_run)
    if not body.dry_run and report.errors:
        raise Unprocessable(
            gettext("%(count)s line(s) have errors; nothing was written", count=report.errors),
            code="csv_rows_invalid",
            details=import_report_out(report).model_dump(mode="json"),
        )
    return import_report_out(report)
