"""Account pages: forgotten password, the emailed password link, sign-up, and the admin's
invitations, CSV import and sign-up approvals (plain HTML forms; the origin check in
portal/web/support.py guards them)."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for

from portal.core import accounts, unit_of_work, user_import
from portal.core.errors import PortalError
from portal.core.models import User
from portal.extensions import db, limiter
from portal.i18n import gettext, ngettext
from portal.web.pages import web
from portal.web.support import page


def _reset_limit() -> str:
    return current_app.config.get("PASSWORD_RESET_RATE_LIMIT") or "10 per hour"


@web.get("/password/forgot")
def forgot_password_page():
    return render_template("account/forgot.html", sent=False, email="")


@web.post("/password/forgot")
@limiter.limit(_reset_limit)
def forgot_password_submit():
    email = request.form.get("email", "")[:255]
    accounts.request_password_reset(email)
    unit_of_work.commit()
    return render_template(
        "account/forgot.html", sent=True, email=email, message=accounts.RESET_ANSWER
    )


@web.get("/password/set/<token>")
def password_link_page(token: str):
    try:
        user, purpose = accounts.read_link(token)
    except PortalError as exc:
        db.session.rollback()
        return render_template("account/set_password.html", error=exc.shown, usable=False), 400
    return render_template(
        "account/set_password.html", error=None, usable=True, user=user, purpose=purpose
    )


@web.post("/password/set/<token>")
@limiter.limit(_reset_limit)
def password_link_submit(token: str):
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        return _set_password_error(token, "the two passwords are not the same")
    try:
        accounts.set_password_from_link(token, password)
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        return _set_password_error(token, exc.shown)
    return redirect(url_for("web.login_page", notice="password_set"))


def _set_password_error(token: str, message: str):
    try:
        user, purpose = accounts.read_link(token)
        usable = True
    except PortalError:
        user, purpose, usable = None, None, False
    return render_template(
        "account/set_password.html", error=message, usable=usable, user=user, purpose=purpose
    ), 400


@web.get("/sign-up")
def sign_up_page():
    return render_template(
        "account/sign_up.html", mode=accounts.sign_up_mode().value, error=None, form={}
    )


@web.post("/sign-up")
@limiter.limit(_reset_limit)
def sign_up_submit():
    form = {key: request.form.get(key, "")[:255] for key in ("email", "name")}
    try:
        accounts.sign_up(
            email=form["email"], name=form["name"], password=request.form.get("password", "")
        )
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        mode = accounts.sign_up_mode().value
        return render_template(
            "account/sign_up.html", mode=mode, error=exc.shown, form=form
        ), exc.status
    return render_template(
        "account/sign_up.html", mode="done", message=accounts.SIGN_UP_ANSWER, form={}
    )


@web.get("/admin/accounts")
@page("admin")
def admin_accounts(user: User):
    return _render_admin_accounts(user)


def _render_admin_accounts(
    user: User, *, notice: str | None = None, error: str | None = None, **extra
):
    return render_template(
        "admin/accounts.html",
        user=user,
        pending=accounts.pending_sign_ups(user),
        mode=accounts.sign_up_mode().value,
        notice=notice,
        error=error,
        report=extra.pop("report", None),
        csv_text=extra.pop("csv_text", ""),
        **extra,
    )


@web.post("/admin/accounts/invite")
@page("admin")
def admin_invite(user: User):
    try:
        invited = accounts.invite_user(
            user,
            email=request.form.get("email", "")[:255],
            name=request.form.get("name", "")[:200],
            role=request.form.get("role", "student"),
        )
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        return _render_admin_accounts(user, error=exc.shown), exc.status
    return _render_admin_accounts(
        user, notice=gettext("Invitation sent to %(email)s.", email=invited.email)
    )


@web.post("/admin/accounts/sign-ups/<int:user_id>")
@page("admin")
def admin_decide_sign_up(user: User, user_id: int):
    approve = request.form.get("decision") == "approve"
    try:
        decided = accounts.decide_sign_up(user, user_id, approve=approve)
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        return _render_admin_accounts(user, error=exc.shown), exc.status
    notice = (
        gettext("The sign-up of %(name)s was approved.", name=decided.name)
        if approve
        else gettext("The sign-up of %(name)s was refused.", name=decided.name)
    )
    return _render_admin_accounts(user, notice=notice)


@web.post("/admin/accounts/import")
@page("admin")
def admin_import(user: User):
    upload = request.files.get("file")
    text = request.form.get("csv", "")
    if upload is not None and upload.filename:
        raw = upload.read(user_import.MAX_BYTES + 1)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _render_admin_accounts(
                user, error=gettext("the file must be UTF-8 text (CSV)")
            ), 400
    apply = request.form.get("apply") == "1"
    try:
        report = user_import.import_users(user, text, apply=apply)
        if report.applied:
            unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        return _render_admin_accounts(user, error=exc.shown, csv_text=text), exc.status
    if report.applied:
        counts = report.counts()
        notice = gettext(
            "Imported: %(created)s created, %(updated)s updated.",
            created=counts["create"],
            updated=counts["update"],
        )
        return _render_admin_accounts(user, notice=notice, report=report)
    db.session.rollback()
    error = (
        ngettext(
            "%(num)d line has errors; nothing was written. Fix it and check again.",
            "%(num)d lines have errors; nothing was written. Fix them and check again.",
            report.errors,
        )
        if report.errors
        else None
    )
    status = 422 if report.errors and apply else 200
    return _render_admin_accounts(user, error=error, report=report, csv_text=text), status
