"""LTI 1.3 tool: classes launched from the school's LMS (Moodle, Canvas, Open edX).
See docs/lti.md."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from portal.plugins import (
    AdminPage,
    ClassInfo,
    MeetingRecord,
    PageLink,
    PeriodicJob,
    PortalError,
    ScheduleInfo,
    UserInfo,
    hookimpl,
    services,
)

# Importing the catalogue registers its domain (portal.plugins.i18n): templates find it.
from portal_lti.i18n import lazy_gettext
from portal_lti.privacy import erase_user_data, export_user_data  # noqa: F401  (hooks)

log = logging.getLogger(__name__)


def _purge() -> int:
    from portal_lti.tool import purge_expired

    with services.unit_of_work():
        return purge_expired()


@hookimpl
def register_blueprints(app) -> None:
    from portal_lti.admin import bp as admin_bp
    from portal_lti.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)


@hookimpl
def register_migrations(register) -> None:
    register("lti", Path(__file__).parent / "migrations")


@hookimpl
def register_periodic_jobs(register) -> None:
    from portal_lti.grades import JOB, post_pending_scores
    from portal_lti.roster import sync_all_rosters

    register(PeriodicJob("lti-purge-launch-storage", 3600, _purge))
    # Names and Role Provisioning: learners added or dropped in the LMS between launches.
    register(PeriodicJob("lti-roster-sync", 3600, sync_all_rosters))
    # Assignment and Grade Services: scores queued after each class, retried while the LMS
    # is down (the class_ended hook also starts it at once).
    register(PeriodicJob(JOB, 300, post_pending_scores))


@hookimpl
def class_ended(meeting: MeetingRecord, klass: ClassInfo, schedule: ScheduleInfo) -> None:
    """Queue each LMS learner's attendance of the occurrence for the LMS gradebook."""
    from portal_lti.grades import queue_scores

    try:
        with services.unit_of_work():
            queue_scores(klass, schedule)
    except Exception:
        # Ending the class must not fail because the gradebook could not be queued.
        log.exception("could not queue the LMS scores of class %s", klass.id)


@hookimpl
def register_commands(cli) -> None:
    @cli.group("lti")
    def lti() -> None:
        """LTI 1.3: LMS platforms and the tool's keys."""

    @lti.command("add-platform")
    @click.option("--name", required=True, help="what admins call it, e.g. 'School Moodle'")
    @click.option("--issuer", required=True, help="the platform's issuer (iss)")
    @click.option("--client-id", required=True, help="the client id the LMS gave the tool")
    @click.option("--auth-login-url", required=True, help="the platform's OIDC auth endpoint")
    @click.option("--auth-token-url", required=True, help="the platform's OAuth2 token URL")
    @click.option("--key-set-url", required=True, help="the platform's public keyset (JWKS)")
    @click.option("--deployment-id", "deployment_ids", multiple=True, required=True)
    def add_platform(
        name, issuer, client_id, auth_login_url, auth_token_url, key_set_url, deployment_ids
    ) -> None:
        """Register an LMS (or add deployment ids to one already registered)."""
        from portal_lti import platforms
        from portal_lti.tool import find_platform

        try:
            with services.unit_of_work():
                known = find_platform(issuer, client_id)
                if known is None:
                    form = platforms.PlatformForm(
                        name=name,
                        issuer=issuer,
                        client_id=client_id,
                        auth_login_url=auth_login_url,
                        auth_token_url=auth_token_url,
                        key_set_url=key_set_url,
                        deployment_ids=list(deployment_ids),
                    )
                    platforms.register_platform(form)
                else:
                    platforms.add_deployments(known.id, list(deployment_ids))
        except PortalError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"registered {name}: {issuer} (client {client_id})")

    @lti.command("rotate-key")
    def rotate_key() -> None:
        """Start signing with a new key (the previous one stays published)."""
        from portal_lti.platforms import rotate_tool_key

        with services.unit_of_work():
            key = rotate_tool_key()
        click.echo(f"the tool now signs with key {key.kid}")

    @lti.command("tool-config")
    def tool_config() -> None:
        """What to enter in the LMS when registering the portal as a tool."""
        from portal_lti.platforms import tool_urls

        click.echo(json.dumps(tool_urls(), indent=2))


@hookimpl
def class_page_links(klass: ClassInfo, user: UserInfo) -> list[PageLink]:
    """The class's teachers find the attendance sent to the LMS gradebook from its page."""
    from flask import url_for

    from portal_lti.grades import sends_grades

    if not sends_grades(klass.id):
        return []
    label = lazy_gettext("Attendance sent to the LMS gradebook")
    return [PageLink(label, url_for("lti.grades_page", class_id=klass.id))]


@hookimpl
def register_admin_pages(register) -> None:
    register(
        AdminPage(
            lazy_gettext("LMS platforms (LTI)"),
            "lti_admin.platforms",
            lazy_gettext(
                "Register the school's Moodle, Canvas or Open edX and the tool's signing key."
            ),
        )
    )
