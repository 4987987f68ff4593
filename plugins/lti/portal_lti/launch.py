"""From a verified LTI launch to a portal user in a portal class."""

from __future__ import annotations

from typing import Any

from portal.plugins import ExternalIdentity, NotAuthenticated, UserInfo, services

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
PROVIDER = "lti"
# LIS roles (LTI 1.3 Core 5.3.7, appendix A.2) of the people who run a course: they teach,
# every other member is a student. The portal's admin role is never granted by an LMS.
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
TEACHING_ROLES = (
    LIS + "membership#Instructor",
    LIS + "membership#ContentDeveloper",
    # The course's own administrator (a course "manager"), not the portal's.
    LIS + "membership#Administrator",
    LIS + "institution/person#Instructor",
    LIS + "institution/person#Administrator",
    LIS + "system/person#Administrator",
)
# Sub-roles (appendix A.2.3.1) of those context roles, such as
# membership/Instructor#TeachingAssistant.
TEACHING_SUB_ROLES = tuple(
    LIS + f"membership/{role}#" for role in ("Instructor", "ContentDeveloper", "Administrator")
)
ROLE_RANK = {"student": 0, "teacher": 1, "admin": 2}


def _teaches(role: object) -> bool:
    return isinstance(role, str) and (role in TEACHING_ROLES or role.startswith(TEACHING_SUB_ROLES))


def launch_role(claims: dict[str, Any]) -> str:
    roles = claims.get(CLAIM + "roles") or []
    if not isinstance(roles, list):
        roles = []
    return "teacher" if any(_teaches(role) for role in roles) else "student"


def check_audience(claims: dict[str, Any], client_id: str) -> None:
    """Security Framework 5.1.3 steps 3-4, which pylti1p3 leaves out: with several
    audiences the authorized party must be this tool."""
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    if client_id not in audiences:
        raise NotAuthenticated("this launch was meant for another tool", code="lti_wrong_audience")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise NotAuthenticated(
            "this launch was authorized for another tool", code="lti_wrong_audience"
        )


def linked_subject(claims: dict[str, Any]) -> str:
    """The key a launching person's portal account is linked by: (issuer, sub)."""
    return f"{claims['iss']} {claims['sub']}"


def provision(claims: dict[str, Any]) -> UserInfo:
    """The launching person as a portal user, linked by (issuer, sub), never by email."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise NotAuthenticated(
            "your course did not share your email address with the portal; ask the LMS "
            "administrator to share it with this tool (privacy settings of the tool)",
            code="lti_email_missing",
        )
    subject = linked_subject(claims)
    if len(subject) > 255:
        raise NotAuthenticated("this LMS's user ids are too long", code="lti_subject_too_long")
    role = launch_role(claims)
    known = services.find_user_by_identity(PROVIDER, subject)
    # A teacher who takes a course as a learner stays a teacher; admins stay admins.
    if known is not None and ROLE_RANK[known.role] > ROLE_RANK[role]:
        role = known.role
    given = " ".join(str(claims.get(k) or "") for k in ("given_name", "family_name")).strip()
    user, _created = services.provision_user(
        ExternalIdentity(
            provider=PROVIDER,
            subject=subject,
            email=email,
            name=str(claims.get("name") or given or email.split("@", 1)[0]),
            role=role,  # type: ignore[arg-type]
        )
    )
    return user
