"""LTI 1.3 endpoints: OIDC third-party login initiation, the launch, the tool's JWKS, and
the teacher's set-up of an activity that is not linked to a class yet."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException, OIDCException
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
from portal_lti.launch import CLAIM, PROVIDER, check_audience, provision
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
            f"this LMS launch cannot start ({exc}); the LMS administrator must register "
            "the platform on the portal first",
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
            f"the launch from your course could not be verified ({exc}); open the activity "
            "again from the course",
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
    if not message.is_resource_launch():
        raise ValidationFailed(
            "this kind of LTI message is not supported by the portal yet",
            code="lti_message_unsupported",
        )
    user = provision(claims)
    link = _link_for(claims)
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


def _restored(launch_id: str, *, browser_must_match: bool) -> tuple[dict, UserInfo]:
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
        claims = dict(message.get_launch_data())
    except LtiException as exc:
        raise NotFound(
            "this set-up link has expired; open the activity again from your course",
            code="lti_launch_expired",
        ) from exc
    linked = services.find_user_by_identity(PROVIDER, f"{claims['iss']} {claims['sub']}")
    browser = current_browser_user()
    if (
        linked is None
        or linked.role not in ("teacher", "admin")
        or (browser_must_match and (browser is None or browser.id != linked.id))
    ):
        raise Forbidden("only the teacher who opened this activity may set it up")
    return claims, linked


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
    choice = request.form.get("class_id", "")
    if choice == "new":
        title = (claims[CLAIM + "resource_link"].get("title") or "").strip() or "LMS class"
        # A start the teacher changes on the class page; the next full hour is a sane default.
        starts = services.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        class_id = services.create_class(user.id, title[:200], starts).id
    else:
        try:
            class_id = int(choice)
        except ValueError:
            raise ValidationFailed("choose a class or a new one", code="lti_no_choice") from None
        if class_id not in {c.id for c in services.classes_taught_by(user.id)}:
            raise Forbidden("you can only link classes you teach")
    platform = tool.find_platform(claims["iss"], _client_id(claims))
    if platform is None:
        raise NotFound("the LMS platform is no longer registered")
    link = LtiResourceLink(
        platform_id=platform.id,
        deployment_id=claims[CLAIM + "deployment_id"],
        resource_link_id=claims[CLAIM + "resource_link"]["id"],
        context_id=(claims.get(CLAIM + "context") or {}).get("id"),
        class_id=class_id,
        memberships_url=roster.memberships_url(claims),
    )
    grades.remember_grade_service(link, claims)
    services.session().add(link)
    services.session().flush()
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
