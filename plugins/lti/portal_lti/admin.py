"""The admins' LTI page: the registered LMS platforms, their deployments, the tool's key and
the URLs to enter in the LMS. It calls the functions the `portal lti` commands call
(portal_lti.platforms); the request commits what succeeded, a refused form is shown again
with what was typed and the reason."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal.plugins import Forbidden, PortalError, UserInfo, ValidationFailed
from portal.plugins.web import current_browser_user, same_site_form
from portal_lti import platforms
from portal_lti.i18n import _
from portal_lti.tool import get_platform

bp = Blueprint("lti_admin", __name__, url_prefix="/lti/admin", template_folder="templates")


def _admin() -> UserInfo:
    user = current_browser_user()
    if user is None or user.role != "admin":
        raise Forbidden(_("only an administrator can manage the LMS platforms"))
    return user


@bp.before_request
def only_admins() -> Response | None:
    if current_browser_user() is None:
        return redirect(url_for("web.login_page", next=request.full_path.rstrip("?")))
    _admin()
    if request.method == "POST" and not same_site_form():
        raise ValidationFailed(
            _("this form was sent from another site; open the portal and try again"),
            code="cross_site_form",
        )
    return None


def _page(
    *,
    notice: str | None = None,
    error: str | None = None,
    form: platforms.PlatformForm | None = None,
    deployment_error: tuple[int, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return (
        render_template(
            "lti/admin.html",
            user=_admin(),
            platforms=platforms.list_platforms(),
            urls=platforms.tool_urls(),
            key_ids=platforms.current_key_ids(),
            labels=platforms.field_labels(),
            form=form or platforms.PlatformForm(),
            deployments_typed=request.form.get("deployment_ids", "") if form else "",
            notice=notice,
            error=error,
            deployment_error=deployment_error,
        ),
        status,
    )


def _done(notice: str) -> Response:
    # Post/redirect/get: reloading the page does not send the form again.
    return redirect(url_for("lti_admin.platforms", notice=notice), code=303)


# The admin menu links this endpoint (register_admin_pages).
@bp.get("", endpoint="platforms")
def platforms_page() -> tuple[str, int]:
    notice = request.args.get("notice", "")[:300] or None
    return _page(notice=notice)


@bp.post("/platforms")
def add_platform() -> Any:
    form = platforms.PlatformForm.from_fields(request.form)
    try:
        platform = platforms.register_platform(form, actor_id=_admin().id)
    except PortalError as exc:
        # Everything typed is shown again with the reason.
        return _page(error=exc.shown, form=form, status=exc.status)
    return _done(_("%(name)s is registered.", name=platform.name))


@bp.post("/platforms/<int:platform_id>/deployments")
def add_deployment(platform_id: int) -> Any:
    typed = request.form.get("deployment_id", "")
    try:
        platform = platforms.add_deployments(platform_id, [typed], actor_id=_admin().id)
    except PortalError as exc:
        return _page(error=exc.shown, deployment_error=(platform_id, typed), status=exc.status)
    return _done(_("Deployment %(id)s added to %(name)s.", id=typed.strip(), name=platform.name))


@bp.post("/platforms/<int:platform_id>/deployments/remove")
def remove_deployment(platform_id: int) -> Any:
    deployment_id = request.form.get("deployment_id", "")
    try:
        platform = platforms.remove_deployment(platform_id, deployment_id, actor_id=_admin().id)
    except PortalError as exc:
        return _page(error=exc.shown, status=exc.status)
    return _done(
        _("Deployment %(id)s removed from %(name)s.", id=deployment_id, name=platform.name)
    )


@bp.get("/platforms/<int:platform_id>/remove")
def confirm_remove(platform_id: int) -> str:
    platform = get_platform(platform_id)
    return render_template("lti/admin_remove.html", user=_admin(), platform=platform)


@bp.post("/platforms/<int:platform_id>/remove")
def remove_platform(platform_id: int) -> Any:
    if request.form.get("confirm") != "yes":
        return redirect(url_for("lti_admin.confirm_remove", platform_id=platform_id), code=303)
    platform = get_platform(platform_id)
    name = platform.name
    platforms.remove_platform(platform_id, actor_id=_admin().id)
    return _done(_("%(name)s is removed; it can no longer launch classes.", name=name))


@bp.post("/key")
def rotate_key() -> Response:
    key = platforms.rotate_tool_key(actor_id=_admin().id)
    return _done(
        _(
            "The tool now signs with key %(kid)s; the previous key stays published.",
            kid=key.kid,
        )
    )
