"""A real Chromium: an admin registers the LMS (the platform double) on the admin page, then a
teacher's launch from that LMS reaches the portal and sets up the class."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from platform_double import CLIENT_ID, DEPLOYMENT, new_person
from portal_testing import PASSWORD

pytestmark = pytest.mark.browser


def test_admin_registers_the_lms_on_the_page_then_a_launch_works(
    portal_url, page, platform, make_user
):
    admin = make_user("admin", "Ada Admin")
    page.goto(portal_url + "/login?next=/admin")
    page.fill("#email", admin.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(portal_url + "/admin")
    page.get_by_role("link", name="LMS platforms (LTI)").first.click()
    page.wait_for_url(portal_url + "/lti/admin")

    reg = platform.registration()
    page.get_by_label("Name", exact=True).fill("School Moodle")
    page.get_by_label("Issuer (platform id)").fill(reg["issuer"])
    page.get_by_label("Client id").fill(reg["client_id"])
    page.get_by_label("OIDC authentication URL").fill(reg["auth_login_url"])
    page.get_by_label("Access token URL").fill(reg["auth_token_url"])
    page.get_by_label("Public keyset URL (JWKS)").fill(reg["key_set_url"])
    page.get_by_label("Deployment ids").fill(reg["deployment_id"])
    page.get_by_role("button", name="Register the platform").click()
    assert page.locator("#lti-notice").inner_text() == "School Moodle is registered."
    assert reg["issuer"] in page.locator("#lti-platforms").inner_text()
    launch_url = page.locator("#lti-tool-urls code").nth(1).inner_text()
    login_url = page.locator("#lti-tool-urls code").nth(0).inner_text()

    # The LMS sends the browser to the tool's login initiation URL (LTI 1.3 Core 5.1.1).
    teacher = new_person(platform, "teacher")
    fields = {
        "iss": platform.issuer,
        "login_hint": teacher,
        "target_link_uri": launch_url,
        "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT,
    }
    page.goto(login_url + "?" + urlencode(fields))
    page.wait_for_url(portal_url + "/lti/setup**")
    assert "Set up “Weekly maths class”" in page.locator("h1").inner_text()
    page.get_by_role("button", name="Link the activity").click()
    page.wait_for_url(portal_url + "/classes/*")
    assert "Weekly maths class" in page.content()
