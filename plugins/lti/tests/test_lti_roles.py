"""Which portal role a launching person gets from their LIS roles (LTI 1.3 Core 5.3.7 and
appendix A.2): the people who run a course teach, everyone else learns, and no LMS makes
anyone a portal admin."""

from __future__ import annotations

import pytest
from platform_double import CLAIM, new_person
from test_lti_launch import launch, me

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "portal_role"),
    [
        ([LIS + "membership#Instructor"], "teacher"),
        ([LIS + "membership/Instructor#TeachingAssistant"], "teacher"),
        ([LIS + "membership#ContentDeveloper"], "teacher"),
        # The course's own administrator (Canvas, Moodle: "manager" of a course).
        ([LIS + "membership#Administrator"], "teacher"),
        ([LIS + "membership/Instructor#Lecturer"], "teacher"),
        ([LIS + "institution/person#Administrator", LIS + "membership#Learner"], "teacher"),
        ([LIS + "system/person#Administrator"], "teacher"),
        ([LIS + "membership#Learner"], "student"),
        ([LIS + "membership#Mentor"], "student"),
        ([LIS + "institution/person#Student"], "student"),
        ([], "student"),
    ],
    ids=[
        "instructor",
        "teaching-assistant",
        "content-developer",
        "course-administrator",
        "instructor-sub-role",
        "institution-administrator",
        "system-administrator",
        "learner",
        "mentor",
        "institution-student",
        "no-roles",
    ],
)
def test_lis_roles_map_to_a_portal_role_never_admin(client, registered, roles, portal_role):
    response, _ = launch(
        client, registered, new_person(registered, "student"), **{CLAIM + "roles": roles}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert me(client).get_json()["role"] == portal_role
