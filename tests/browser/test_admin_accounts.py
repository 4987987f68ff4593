"""The admin's account forms (invite, sign-up decision, CSV import) as a browser sends them:
a cookie session's form post must carry the session's CSRF token, or the admin lands on
the login page with what they typed lost; the notices read in the admin's language."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from portal_testing import PASSWORD

from portal.core.models import User
from portal.extensions import db

pytestmark = pytest.mark.browser


def _user(live_server, email: str) -> User | None:
    with live_server.app.app_context():
        return db.session.execute(db.select(User).where(User.email == email)).scalar_one_or_none()


def test_admin_invites_a_teacher_and_imports_students_from_the_page(
    live_server, new_context, sign_in
):
    admin = live_server.user("admin", "Ada Admin")
    page = sign_in(new_context(), admin.email, next_path="/admin/accounts")
    page.get_by_label("Name").first.fill("Grace Hopper")
    page.get_by_label("Email").first.fill("grace@tests.school")
    page.locator("form[action='/admin/accounts/invite'] button[type=submit]").click()
    expect(page.locator("#accounts-notice")).to_have_text("Invitation sent to grace@tests.school.")
    assert page.url.endswith("/admin/accounts/invite")
    assert _user(live_server, "grace@tests.school") is not None

    page.get_by_label("or paste the lines").fill(
        "email,name,role\nalan@tests.school,Alan Turing,student\n"
    )
    page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    expect(page.locator("#import-report")).to_contain_text("will be created")
    page.get_by_role("button", name="Import these users").click()
    expect(page.locator("#accounts-notice")).to_have_text("Imported: 1 created, 0 updated.")
    assert _user(live_server, "alan@tests.school") is not None


def test_the_import_report_and_notices_are_in_french(live_server, new_context, sign_in):
    admin = live_server.user("admin", "Ada Admin")
    with live_server.app.app_context():
        db.session.execute(db.update(User).where(User.id == admin.id).values(locale="fr"))
        db.session.commit()
    context = new_context()
    context.set_extra_http_headers({"Accept-Language": "fr"})
    page = context.new_page()
    page.goto("/login?next=/admin/accounts")
    page.locator("input[name=email]").fill(admin.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.locator("#csv-text").fill("email,name,role\nnot-an-address,Bad Line,student\n")
    page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    expect(page.locator("#accounts-error")).to_have_text(
        "1 ligne contient des erreurs ; rien n'a été enregistré. Corrigez-la et vérifiez à nouveau."
    )
    row = page.locator("#import-report tr[data-action=error]")
    expect(row).to_contain_text("erreur")
    expect(row).to_contain_text("adresse e-mail invalide :")
