"""LTI 1.3 endpoints: OIDC third-party login initiation, the launch, the tool's JWKS, and
the teacher's set-up of an activity that is not linked to a class yet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.message_launch import MessageLaunch
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.plugins import (
    Forbidden,
    NotAuthenticated,
    NotFound,
    UserInfo,
    ValidationFailed,
    services,
)
from portal.plugins.web import current_browser_user, start_browser_session
from portal_lti import grades, roster, tool
from portal_lti.i18n import translations
from portal_lti.launch import CLAIM, PROVIDER, check_audience, linked_subject, provision
from portal_lti.models import LtiResourceLink

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")


def _launch_url() -> str:
    return url_for("lti.launch", _external=True)


@bp.get("/jwks")
def jwks() -> Response:
    response = jsonify(tool.published_keys())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Step 1 of the launch: the platform asks the tool to start an OIDC login."""
    oidc = FlaskOIDCLogin(
        FlaskRequest(), tool.DatabaseToolConf(), launch_data_storage=tool.PortalLaunchStorage()
    )
    try:
        return oidc.redirect(_launch_url())
    except OIDCException as exc:
        raise ValidationFailed(
            translations.gettext(
                "this LMS launch cannot start (%(reason)s); the LMS administrator must register "
                "the platform on the portal first",
                reason=exc,
            ),
            code="lti_login_invalid",
        ) from exc


def _verified_launch() -> tuple[FlaskMessageLaunch, dict]:
    message = FlaskMessageLaunch(
        FlaskRequest(), tool.DatabaseToolConf(), launch_data_storage=tool.PortalLaunchStorage()
    )
    try:
        claims = dict(message.get_launch_data())
    except (LtiException, KeyError, ValueError) as exc:
        raise NotAuthenticated(
            translations.gettext(
                "the launch from your course could not be verified (%(reason)s); open the "
                "activity again from the course",
                reason=exc,
            ),
            code="lti_launch_invalid",
        ) from exc
    check_audience(claims, message.get_client_id())
    return message, claims


def _link_for(claims: dict) -> LtiResourceLink | None:
    platform = tool.find_platform(claims["iss"], _client_id(claims))
    if platform is None:
        return None
    return (
        services.session()
        .execute(
            select(LtiResourceLink).where(
                LtiResourceLink.platform_id == platform.id,
                LtiResourceLink.deployment_id == claims[CLAIM + "deployment_id"],
                LtiResourceLink.resource_link_id == claims[CLAIM + "resource_link"]["id"],
            )
        )
        .scalar_one_or_none()
    )


def _client_id(claims: dict) -> str:
    audience = claims["aud"]
    return audience if isinstance(audience, str) else claims.get("azp") or audience[0]


def _open_class(user: UserInfo, claims: dict, link: LtiResourceLink) -> str:
    """The linked class for this launch: a learner is enrolled, a teacher's launch refreshes
    the roster from the LMS (Names and Role Provisioning)."""
    link.memberships_url = roster.memberships_url(claims) or link.memberships_url
    grades.remember_grade_service(link, claims)
    if user.role == "student":
        if not services.is_member(user.id, link.class_id):
            services.enrol_students(link.class_id, [user.id])
        roster.remember_learner(link, user.id, str(claims["sub"]))
    else:
        roster.sync_roster_on_launch(link)
    return f"/classes/{link.class_id}"


@bp.post("/launch")
def launch() -> Response:
    """Step 2: the platform posts the signed id_token; the person lands in the class."""
    message, claims = _verified_launch()
    if message.is_deep_link_launch():
        user = provision(claims)
        if user.role not in ("teacher", "admin"):
            raise Forbidden("only a teacher can add a portal class to the course")
        destination = url_for("lti.deep_link", launch=message.get_launch_id())
        return start_browser_session(redirect(destination, code=303), user, provider=PROVIDER)
    if not message.is_resource_launch():
        raise ValidationFailed(
            "this kind of LTI message is not supported by the portal yet",
            code="lti_message_unsupported",
        )
    user = provision(claims)
    link = _link_for(claims) or _link_from_deep_link(claims)
    if link is not None:
        destination = _open_class(user, claims, link)
    elif user.role in ("teacher", "admin"):
        destination = url_for("lti.setup", launch=message.get_launch_id())
    else:
        destination = url_for("lti.not_ready")
    return start_browser_session(redirect(destination, code=303), user, provider=PROVIDER)


@bp.get("/not-ready")
def not_ready() -> str:
    return render_template("lti/not_ready.html")


def _link_from_deep_link(claims: dict) -> LtiResourceLink | None:
    """The first launch of an activity the teacher created by Deep Linking: its custom
    parameter names the class. Only a class whose teacher signs in from this same LMS is
    linked, so an LMS cannot attach its course to someone else's class."""
    custom = claims.get(CLAIM + "custom")
    raw = custom.get(DEEP_LINK_PARAM) if isinstance(custom, dict) else None
    try:
        class_id = int(str(raw))
    except ValueError:
        return None
    klass = services.get_class(class_id)
    platform = tool.find_platform(claims["iss"], _client_id(claims))
    if klass is None or platform is None:
        return None
    subject = services.identity_subject(PROVIDER, klass.teacher_id) or ""
    if not subject.startswith(platform.issuer + " "):
        return None
    return _new_link(claims, platform.id, class_id)


def _new_link(claims: dict, platform_id: int, class_id: int) -> LtiResourceLink:
    link = LtiResourceLink(
        platform_id=platform_id,
        deployment_id=claims[CLAIM + "deployment_id"],
        resource_link_id=claims[CLAIM + "resource_link"]["id"],
        context_id=(claims.get(CLAIM + "context") or {}).get("id"),
        class_id=class_id,
        memberships_url=roster.memberships_url(claims),
    )
    grades.remember_grade_service(link, claims)
    services.session().add(link)
    services.session().flush()
    return link


def _restored(launch_id: str, *, browser_must_match: bool) -> tuple[dict, UserInfo]:
    message, claims, user = _restored_launch(launch_id, browser_must_match=browser_must_match)
    return claims, user


def _restored_launch(
    launch_id: str, *, browser_must_match: bool
) -> tuple[MessageLaunch[Any, Any, Any, Any], dict, UserInfo]:
    """The teacher's own earlier launch, continued on the set-up page. The launch id is
    unguessable and known only to the browser that launched, so the form post needs no
    session cookie (nor its CSRF token): the verified launch says who the teacher is."""
    try:
        message = FlaskMessageLaunch.from_cache(
            launch_id,
            FlaskRequest(),
            tool.DatabaseToolConf(),
            launch_data_storage=tool.PortalLaunchStorage(),
        )
        claims: dict = dict(message.get_launch_data())
    except LtiException as exc:
        raise NotFound(
            "this set-up link has expired; open the activity again from your course",
            code="lti_launch_expired",
        ) from exc
    linked = services.find_user_by_identity(PROVIDER, linked_subject(claims))
    browser = current_browser_user()
    if (
        linked is None
        or linked.role not in ("teacher", "admin")
        or (browser_must_match and (browser is None or browser.id != linked.id))
    ):
        raise Forbidden("only the teacher who opened this activity may set it up")
    return message, claims, linked


def _same_origin_form() -> None:
    origin = request.headers.get("Origin")
    if origin and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise Forbidden("this form was sent from another site", code="lti_cross_site_form")


@bp.get("/setup")
def setup() -> str:
    claims, user = _restored(request.args.get("launch", ""), browser_must_match=True)
    return render_template(
        "lti/setup.html",
        launch_id=request.args["launch"],
        activity=claims[CLAIM + "resource_link"].get("title") or "this activity",
        course=(claims.get(CLAIM + "context") or {}).get("title") or "",
        classes=services.classes_taught_by(user.id),
    )


@bp.post("/setup")
def finish_setup() -> Response:
    _same_origin_form()
    claims, user = _restored(request.form.get("launch", ""), browser_must_match=False)
    if _link_for(claims) is not None:
        raise ValidationFailed("this activity is already linked to a class", code="lti_linked")
    title = (claims[CLAIM + "resource_link"].get("title") or "").strip() or "LMS class"
    class_id = _chosen_class(user, title)
    platform = tool.find_platform(claims["iss"], _client_id(claims))
    if platform is None:
        raise NotFound("the LMS platform is no longer registered")
    link = _new_link(claims, platform.id, class_id)
    services.audit("lti.link", "class", class_id, actor_id=user.id, platform=platform.issuer)
    roster.sync_roster_on_launch(link)
    return redirect(f"/classes/{class_id}", code=303)


@bp.get("/grades/<int:class_id>")
def grades_page(class_id: int) -> str:
    """The teacher's view of the attendance scores sent to the LMS gradebook."""
    user = current_browser_user()
    if user is None:
        raise NotAuthenticated("sign in to see this class's LMS grades")
    klass = services.get_class(class_id)
    if klass is None or not services.is_class_manager(user.id, class_id):
        raise NotFound("no such class")
    scores = grades.scores_of_class(class_id)
    people = {s.user_id: services.get_user(s.user_id) for s in scores}
    return render_template("lti/grades.html", klass=klass, scores=scores, people=people)


def _chosen_class(user: UserInfo, new_title: str) -> int:
    """The class the teacher picked on the form, or a new one named `new_title`."""
    choice = request.form.get("class_id", "")
    if choice == "new":
        # A start the teacher changes on the class page; the next full hour is a sane default.
        starts = services.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return services.create_class(user.id, new_title[:200], starts).id
    try:
        class_id = int(choice)
    except ValueError:
        raise ValidationFailed("choose a class or a new one", code="lti_no_choice") from None
    if class_id not in {c.id for c in services.classes_taught_by(user.id)}:
        raise Forbidden("you can only link classes you teach")
    return class_id


DEEP_LINK_PARAM = "portal_class_id"


@bp.get("/deep-link")
def deep_link() -> str:
    """Deep Linking 2.0: the teacher picks (or creates) the class the new activity opens."""
    launch_id = request.args.get("launch", "")
    _message, _claims, user = _restored_launch(launch_id, browser_must_match=True)
    return render_template(
        "lti/deep_link.html", launch_id=launch_id, classes=services.classes_taught_by(user.id)
    )


@bp.post("/deep-link")
def finish_deep_link() -> str:
    """Answer the LMS with the signed LtiDeepLinkingResponse, auto-posted to its return URL;
    the resource's custom parameter names the class, so its first launch links itself."""
    _same_origin_form()
    message, claims, user = _restored_launch(
        request.form.get("launch", ""), browser_must_match=False
    )
    title = (request.form.get("title") or "").strip() or "Live class"
    class_id = _chosen_class(user, title)
    klass = services.get_class(class_id)
    resource = (
        DeepLinkResource()
        .set_url(_launch_url())
        .set_title(klass.title if klass else title)
        .set_custom_params({DEEP_LINK_PARAM: str(class_id)})
    )
    services.audit("lti.deep_link", "class", class_id, actor_id=user.id, platform=claims["iss"])
    return message.get_deep_link().output_response_form([resource])
