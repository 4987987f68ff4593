"""Privacy in the browser (issue #23): a student downloads their data from the profile page
(the export is prepared in the background, its progress shown); an administrator erases a
student after reading the dry run's list, and the name is gone from the class page."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_student_prepares_and_downloads_their_data(live_server, new_context, sign_in):
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Zelda Quixote", phone="+33612345678")
    live_server.class_with(teacher, [student], title="Algebra", starts_in=timedelta(hours=2))
    page = sign_in(new_context(), student.email, next_path="/profile")

    card = page.locator("#data-export")
    card.get_by_role("button", name="Prepare a download of my data").click()
    expect(card.locator("[data-export-message]")).to_contain_text("ready")
    expect(card.locator("[data-export-progress]")).to_have_attribute("value", "100")
    with page.expect_download() as info:
        card.get_by_role("link", name="Download your data (zip)").click()
    with zipfile.ZipFile(info.value.path()) as archive:
        profile = json.loads(archive.read("profile.json"))
        enrolments = json.loads(archive.read("enrolments.json"))
    assert profile[0]["email"] == student.email and profile[0]["phone"] == "+33612345678"
    assert [e["class"] for e in enrolments] == ["Algebra"]

    # Coming back to the profile shows the last export's state straight away.
    page.reload()
    expect(card.locator("[data-export-message]")).to_contain_text("ready")


def test_an_admin_erases_a_student_after_the_dry_run(live_server, new_context, sign_in):
    teacher = live_server.user("teacher", "Tess Teacher")
    admin = live_server.user("admin", "Ada Admin")
    student = live_server.user("student", "Zelda Quixote")
    classmate = live_server.user("student", "Yann Borealis")
    class_id, _ = live_server.class_with(
        teacher, [student, classmate], title="Algebra", starts_in=timedelta(hours=2)
    )
    page = sign_in(new_context(), admin.email, next_path=f"/classes/{class_id}")
    expect(page.get_by_text("Zelda Quixote").first).to_be_visible()

    page.goto("/admin/users")
    row = page.locator("#user-table tr", has_text="Zelda Quixote")
    # First, a parent asked for a copy: the admin exports the student's data.
    page.once("dialog", lambda prompt: prompt.accept("parent's request"))
    with page.expect_download() as info:
        row.get_by_role("button", name="Export data Zelda Quixote").click()
    with zipfile.ZipFile(info.value.path()) as archive:
        assert json.loads(archive.read("profile.json"))[0]["name"] == "Zelda Quixote"
    with live_server.app.app_context():
        from portal.core.models import AuditLog
        from portal.extensions import db

        logged = db.session.execute(
            db.select(AuditLog).filter_by(action="privacy.export", target_id=str(student.id))
        ).scalar_one()
        assert logged.actor_id == admin.id and logged.details["reason"] == "parent's request"

    row.get_by_role("button", name="Erase Zelda Quixote").click()
    dialog = page.locator("#erase-dialog")
    plan = dialog.locator("[data-erase-plan]")
    expect(plan).to_contain_text("clear contact data and credentials")
    expect(plan).to_contain_text("class_enrolments")
    dialog.get_by_role("button", name="Erase for good").click()
    expect(page.locator("#flash")).to_contain_text("erased")
    expect(page.locator("#user-table")).not_to_contain_text("Zelda Quixote")

    page.goto(f"/classes/{class_id}")
    expect(page.get_by_text("Yann Borealis").first).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Zelda Quixote")
