"""A user who forgot their password resets it from the login page: the email arrives at a
real SMTP server (aiosmtpd), the link in it opens the new-password page, the new password
signs in and the old one no longer does."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from portal_testing import PASSWORD
from smtp_double import SmtpDouble

from portal.core import notifications

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a-brand-new-password-42"


@pytest.fixture
def smtp_server():
    server = SmtpDouble().start()
    yield server
    server.stop()


def _wait_for_mail(live_server, server: SmtpDouble, address: str):
    for _ in range(100):
        with live_server.app.app_context():
            notifications.dispatch_due()  # what the periodic job does every minute
        if server.to(address):
            return server.to(address)[0].message
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} arrived")


def test_a_forgotten_password_is_reset_from_the_login_page(
    live_server, new_context, sign_in, smtp_server
):
    live_server.app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_server.port,
        SMTP_SECURITY="none",
        MAIL_FROM="School <classes@school.example>",
    )
    person = live_server.user("student", "Ana Forgetful")
    page = new_context().new_page()
    page.goto("/login")
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Forgotten password")).to_be_visible()
    page.get_by_label("Email").fill(person.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("If this address has an account")

    mail = _wait_for_mail(live_server, smtp_server, person.email)
    assert mail["Subject"] == "Reset your password"
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"(http://\S+/password/set/\S+)", text).group(1)
    assert link.startswith(live_server.url)

    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("The same password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is saved")

    # The link worked once: opened again, it says so.
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("already used")

    signed_in = sign_in(new_context(), person.email, NEW_PASSWORD)
    expect(signed_in.get_by_role("button", name="Sign out")).to_be_visible()
    old = new_context().new_page()
    old.goto("/login")
    old.get_by_label("Email").fill(person.email)
    old.get_by_label("Password").fill(PASSWORD)
    old.get_by_role("button", name="Sign in").click()
    expect(old.get_by_role("alert")).to_contain_text("wrong email or password")
