"""Administration pages in the browser: meeting systems from the plugin's settings schema,
connection test, enable/disable, and site settings."""

from __future__ import annotations

import pytest
from fake_backend import FAKE
from playwright.sync_api import expect

from portal.core.models import BackendConfig
from portal.core.security import decrypt_secret
from portal.extensions import db
from portal.plugins import BackendUnavailable

pytestmark = pytest.mark.browser


def test_admin_adds_tests_and_disables_a_meeting_system(live_server, new_context, sign_in):
    admin = live_server.user("admin", "Ada Admin")
    page = sign_in(new_context(), admin.email, next_path="/admin/backends")
    expect(page.get_by_text("No meeting system configured")).to_be_visible()

    form = page.locator("#add-form")
    form.get_by_label("Name").fill("Campus meetings")
    form.get_by_label("url (optional)").fill("https://meet.campus.example")
    form.get_by_label("secret (optional)").fill("abc")  # too short for the schema (minLength 4)
    form.get_by_role("button", name="Add").click()
    expect(page.locator("[data-form-error]")).to_be_visible()
    expect(form.get_by_label("Name")).to_have_value("Campus meetings")  # kept
    form.get_by_label("secret (optional)").fill("a-long-secret")
    form.get_by_role("button", name="Add").click()
    expect(page.locator("#flash")).to_contain_text("Meeting system added")

    row = page.locator("#backend-table tr", has_text="Campus meetings")
    row.get_by_role("button", name="Test Campus meetings").click()
    expect(row.locator("[data-health]")).to_contain_text("fake backend is fine")
    FAKE.fail_with = BackendUnavailable("connection refused")
    row.get_by_role("button", name="Test Campus meetings").click()
    expect(row.locator("[data-health]")).to_contain_text("failing")
    FAKE.fail_with = None

    row.get_by_label("Enable Campus meetings").uncheck()
    expect(page.locator("#flash")).to_contain_text("Disabled")
    with live_server.app.app_context():
        config = db.session.execute(
            db.select(BackendConfig).filter_by(name="Campus meetings")
        ).scalar_one()
        assert config.enabled is False
        assert config.settings["url"] == "https://meet.campus.example"
        assert decrypt_secret(config.settings["secret"]) == "a-long-secret"

    # Editing keeps the stored secret when its field is left empty.
    row.get_by_role("button", name="Settings of Campus meetings").click()
    edit = page.locator("#edit-form")
    expect(edit.get_by_label("url (optional)")).to_have_value("https://meet.campus.example")
    edit.get_by_label("url (optional)").fill("https://meet2.campus.example")
    edit.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Settings saved")
    with live_server.app.app_context():
        config = db.session.execute(
            db.select(BackendConfig).filter_by(name="Campus meetings")
        ).scalar_one()
        assert config.settings["url"] == "https://meet2.campus.example"
        assert decrypt_secret(config.settings["secret"]) == "a-long-secret"


def test_admin_changes_site_settings(live_server, new_context, sign_in):
    admin = live_server.user("admin", "Ada Admin")
    page = sign_in(new_context(), admin.email, next_path="/admin/settings")
    page.get_by_label("School name").fill("Lycée Marie Curie")
    page.get_by_label("Time zone").fill("Not/AZone")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("[data-form-error]")).to_contain_text("Unknown time zone")
    expect(page.get_by_label("School name")).to_have_value("Lycée Marie Curie")
    page.get_by_label("Time zone").fill("America/Toronto")
    page.get_by_label("Minutes before the class").fill("60, 10")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#flash")).to_contain_text("Settings saved")
    expect(page.locator("header .brand")).to_have_text("Lycée Marie Curie")
    expect(page.get_by_label("Minutes before the class")).to_have_value("60, 10")
