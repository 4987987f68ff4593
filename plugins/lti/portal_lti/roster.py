"""Names and Role Provisioning Services 2.0: the linked class's roster follows the LMS
course's membership (learners enrolled when they appear, removed when they are dropped)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from pylti1p3.exception import LtiServiceException
from pylti1p3.names_roles import NamesRolesProvisioningService
from sqlalchemy import delete, select

from portal.plugins import NotAuthenticated, services
from portal_lti import tool
from portal_lti.launch import CLAIM, launch_role, provision
from portal_lti.models import LtiResourceLink, LtiRosterMember

log = logging.getLogger(__name__)

NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"


@dataclass(frozen=True)
class RosterChange:
    added: int
    dropped: int


def memberships_url(claims: dict[str, Any]) -> str | None:
    """The course's membership container named by a launch (None when the LMS offers no
    roster service to this tool)."""
    service = claims.get(NRPS_CLAIM)
    url = service.get("context_memberships_url") if isinstance(service, dict) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def remember_learner(link: LtiResourceLink, user_id: int, lti_sub: str) -> None:
    """Note that the LMS put this learner in the class (so a later roster drop removes them)."""
    known = services.session().execute(
        select(LtiRosterMember.id).where(
            LtiRosterMember.link_id == link.id, LtiRosterMember.user_id == user_id
        )
    )
    if known.first() is None:
        services.session().add(LtiRosterMember(link_id=link.id, user_id=user_id, lti_sub=lti_sub))


def _active_learners(link: LtiResourceLink) -> list[dict[str, Any]]:
    """Every member of the course (all pages) who is an active learner there."""
    platform = tool.get_platform(link.platform_id)
    service = NamesRolesProvisioningService(
        tool.service_connector(platform), {"context_memberships_url": link.memberships_url or ""}
    )
    members: list[dict[str, Any]] = [dict(member) for member in service.get_members()]
    return [
        member
        for member in members
        if member.get("status", "Active") == "Active"
        and member.get("user_id")
        # A teacher of the course is not a student of the class.
        and launch_role({CLAIM + "roles": member.get("roles") or []}) == "student"
    ]


def sync_roster(link: LtiResourceLink) -> RosterChange:
    """Enrol the course's active learners in the linked class and remove the learners the
    LMS had put there who are no longer active members. Asks the LMS first, then changes
    rows, so an LMS that fails leaves the roster as it was. Does not commit."""
    if not link.memberships_url:
        return RosterChange(0, 0)
    learners = _active_learners(link)
    issuer = tool.get_platform(link.platform_id).issuer
    present: set[int] = set()
    added = 0
    for member in learners:
        claims = {
            "iss": issuer,
            "sub": str(member["user_id"]),
            "email": member.get("email"),
            "name": member.get("name"),
            "given_name": member.get("given_name"),
            "family_name": member.get("family_name"),
            CLAIM + "roles": member.get("roles") or [],
        }
        try:
            user = provision(claims)
        except NotAuthenticated as exc:
            # No email shared (or an over-long id): they are enrolled on their own launch.
            log.info("lti roster: member %s skipped: %s", member["user_id"], exc)
            continue
        if user.role != "student":
            continue
        present.add(user.id)
        if not services.is_member(user.id, link.class_id):
            added += services.enrol_students(link.class_id, [user.id])
        remember_learner(link, user.id, str(member["user_id"]))
    dropped = 0
    rows = services.session().execute(
        select(LtiRosterMember).where(LtiRosterMember.link_id == link.id)
    )
    for row in rows.scalars().all():
        if row.user_id in present:
            continue
        if services.is_member(row.user_id, link.class_id):
            services.unenrol_student(link.class_id, row.user_id)
            dropped += 1
        services.session().execute(delete(LtiRosterMember).where(LtiRosterMember.id == row.id))
    link.roster_synced_at = services.now()
    if added or dropped:
        services.audit("lti.roster", "class", link.class_id, added=added, dropped=dropped)
    return RosterChange(added, dropped)


SERVICE_ERRORS = (LtiServiceException, requests.RequestException, ValueError, KeyError)


def sync_roster_on_launch(link: LtiResourceLink) -> None:
    """The teacher's launch refreshes the roster; an LMS that fails does not stop the launch
    (the periodic job tries again)."""
    try:
        sync_roster(link)
    except SERVICE_ERRORS as exc:
        log.warning("lti roster sync of class %s failed: %s", link.class_id, exc)


def sync_all_rosters() -> int:
    """The periodic job: every link with a membership service, each in its own transaction
    so one failing LMS does not hold back the others. Returns how many links synced."""
    with services.unit_of_work():
        ids = list(
            services.session()
            .execute(select(LtiResourceLink.id).where(LtiResourceLink.memberships_url.is_not(None)))
            .scalars()
        )
    synced = 0
    for link_id in ids:
        try:
            with services.unit_of_work():
                link = services.session().get(LtiResourceLink, link_id)
                if link is not None:
                    sync_roster(link)
                    synced += 1
        except SERVICE_ERRORS as exc:
            log.warning("lti roster sync of link %s failed: %s", link_id, exc)
    return synced
