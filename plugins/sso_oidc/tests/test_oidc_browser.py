"""A real Chromium signs in with the school's identity provider (oidc-provider) from the
portal's login page, and signs out of both."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_sign_in_with_the_school_then_sign_out_of_both(portal_url, page, openid_provider):
    page.goto(portal_url + "/login")
    page.get_by_role("link", name="Sign in with Springfield School").click()

    # At the provider: its login form, then its consent screen.
    page.wait_for_url(openid_provider.issuer + "/**")
    page.fill("input[name=login]", "ann.teacher")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(portal_url + "/")
    assert page.locator(".who").inner_text() == "Ann Teacher (teacher)"

    page.locator("form[data-logout] button").click()
    page.wait_for_url(openid_provider.issuer + "/session/end**")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(portal_url + "/login")
    page.goto(portal_url + "/")
    page.wait_for_url(portal_url + "/login**")
