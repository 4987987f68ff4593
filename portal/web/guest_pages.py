"""The guest's pages: /invite/<token> (type a name and the code) and /guest (wait for the
teacher, then the room). A guest has no account: these pages read the guest cookie only."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for

from portal.api.invites import current_guest, enter_limit, set_guest_cookie
from portal.core import invites, unit_of_work
from portal.core.errors import PortalError
from portal.extensions import db, limiter
from portal.web.pages import web


def _link_error(exc: PortalError):
    db.session.rollback()
    return render_template(
        "error.html", status=exc.status, code=exc.code, message=exc.shown
    ), exc.status


@web.get("/invite/<token>")
def invite_page(token: str):
    try:
        link = invites.open_link(token)
    except PortalError as exc:
        return _link_error(exc)
    return render_template("guest/enter.html", link=link, error=None, name="")


@web.post("/invite/<token>")
@limiter.limit(enter_limit)
def invite_submit(token: str):
    name = request.form.get("name", "")[: invites.MAX_NAME + 1]
    try:
        guest, session_token = invites.redeem(token, name, request.form.get("access_code", ""))
        expires = guest.link.expires_at
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        if exc.status in (404, 410):
            return _link_error(exc)
        link = invites.open_link(token)
        return render_template(
            "guest/enter.html", link=link, error=exc.shown, name=name
        ), exc.status
    response = redirect(url_for("web.guest_room"))
    set_guest_cookie(response, session_token, expires)
    return response


@web.get("/guest")
def guest_room():
    try:
        guest = current_guest()
    except PortalError as exc:
        return _link_error(exc)
    schedule = invites.current_schedule(guest)
    # The page's socket and the meeting's media server know the guest by this credential,
    # good for this one occurrence only (never the guest cookie, which scripts cannot read).
    room_token = invites.room_credential(guest, schedule.id) if schedule is not None else ""
    return render_template(
        "guest/room.html",
        guest=guest,
        schedule=schedule,
        room_token=room_token,
        realtime_url=current_app.config.get("REALTIME_URL") or "",
    )
