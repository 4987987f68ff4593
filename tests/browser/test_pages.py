"""Every page renders for its roles without script errors or CSP violations, forms keep
what the user typed when they are refused, and the layout works on a phone.
PORTAL_SCREENSHOTS=1 saves a screenshot of each page under test-output/pages/."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from portal_testing import PASSWORD

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "pages"


def watch(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    return problems


UNLABELLED = """() => {
  const named = (el) => (el.textContent || "").trim() || el.getAttribute("aria-label")
    || el.getAttribute("aria-labelledby") || el.title;
  const problems = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.hidden || el.closest("[hidden]")) continue;
    const labelled = (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby");
    if (!labelled) problems.push("control " + (el.name || el.id));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (el.closest("[hidden]") || el.hidden) continue;
    if (!named(el)) problems.push("nameless " + el.outerHTML.slice(0, 80));
  }
  if (!document.documentElement.lang) problems.push("no lang");
  return problems;
}"""


def visit(page, path: str, heading: str | re.Pattern, name: str) -> None:
    page.goto(path)
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(UNLABELLED) == [], f"accessibility problems on {path}"
    if os.environ.get("PORTAL_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_pages_render_cleanly_for_each_role(live_server, new_context, sign_in):
    live_server.fake_backend_config()
    admin = live_server.user("admin", "Ada Admin")
    teacher = live_server.user("teacher", "Tom Teacher")
    student = live_server.user("student", "Sam Student", phone="+33612345678")
    class_id, schedule_id = live_server.class_with(
        teacher, [student], title="Geometry", starts_in=timedelta(minutes=20)
    )

    login_page = new_context().new_page()
    problems = watch(login_page)
    visit(login_page, "/login", "Sign in", "login")

    page = sign_in(new_context(), teacher.email)
    problems += watch(page)
    visit(page, "/", "Your classes", "teacher-dashboard")
    visit(page, "/classes/new", "New class", "class-new")
    visit(page, f"/classes/{class_id}", "Geometry", "class-teacher")
    visit(page, f"/classes/{class_id}/edit", re.compile("Edit"), "class-edit")
    visit(page, f"/schedules/{schedule_id}", "Geometry", "room-teacher")

    page = sign_in(new_context(), student.email)
    problems += watch(page)
    visit(page, "/", "Your classes", "student-dashboard")
    visit(page, f"/classes/{class_id}", "Geometry", "class-student")
    visit(page, f"/schedules/{schedule_id}", "Geometry", "room-student")
    visit(page, "/profile", "Your profile", "profile")

    page = sign_in(new_context(), admin.email)
    problems += watch(page)
    visit(page, "/admin", "Administration", "admin")
    visit(page, "/admin/backends", "Meeting systems", "admin-backends")
    visit(page, "/admin/users", "Users", "admin-users")
    visit(page, "/admin/settings", "Site settings", "admin-settings")
    visit(page, "/admin/plugins", "Plugins", "admin-plugins")

    phone = sign_in(new_context(viewport={"width": 390, "height": 800}), student.email)
    problems += watch(phone)
    visit(phone, "/", "Your classes", "student-dashboard-phone")
    for path, heading, name in (
        (f"/schedules/{schedule_id}", "Geometry", "room-student-phone"),
        (f"/classes/{class_id}", "Geometry", "class-student-phone"),
    ):
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        visit(phone, path, heading, name)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    assert problems == []


def test_students_and_teachers_cannot_open_admin_pages(live_server, new_context, sign_in):
    student = live_server.user("student", "Sam Student")
    page = sign_in(new_context(), student.email)
    response = page.goto("/admin/users")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("not available to your account")
    assert "Traceback" not in page.content()


def test_anonymous_visitors_sign_in_and_come_back(live_server, new_context):
    student = live_server.user("student", "Sam Student")
    page = new_context().new_page()
    page.goto("/profile")
    assert "/login?next=/profile" in page.url
    page.get_by_label("Email").fill(student.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    expect(page.get_by_label("Email")).to_have_value(student.email)  # kept what was typed
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/profile")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_refused_class_form_keeps_its_values_and_marks_the_field(
    live_server, new_context, sign_in
):
    teacher = live_server.user("teacher", "Tom Teacher")
    page = sign_in(new_context(), teacher.email)
    page.goto("/classes/new")
    page.get_by_label("Title").fill("Poetry")
    page.get_by_label("Description").fill("Sonnets")
    page.get_by_label("First date").fill("2030-01-07")  # a Monday
    page.get_by_label("Start time").fill("10:00")
    page.get_by_label("Weekly").check()
    page.get_by_label("Tue", exact=True).check()
    page.get_by_role("button", name="Create class").click()
    alert = page.locator("[data-form-error]")
    expect(alert).to_contain_text("The first date is a Monday")
    expect(page.locator('input[name="byday"][value="MO"]')).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.get_by_label("Title")).to_have_value("Poetry")
    expect(page.get_by_label("Description")).to_have_value("Sonnets")

    page.get_by_label("Mon", exact=True).check()
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Create class").click()
    expect(alert).to_contain_text("Choose a time zone")
    page.get_by_label("Time zone").fill("Europe/Paris")

    # Refused by the server (too long a series): the message is shown, the form kept.
    page.get_by_label("on", exact=True).check()
    page.get_by_label("Last date").fill("2036-01-01")
    page.get_by_role("button", name="Create class").click()
    expect(alert).to_contain_text("at most 400 occurrences")
    expect(page.get_by_label("Title")).to_have_value("Poetry")
    expect(page.get_by_label("Last date")).to_have_value("2036-01-01")


def test_profile_changes_are_saved_and_bad_phone_numbers_explained(
    live_server, new_context, sign_in
):
    student = live_server.user("student", "Sam Student")
    page = sign_in(new_context(), student.email)
    page.goto("/profile")
    page.get_by_label("Mobile phone").fill("12345")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-form-error]").first).to_contain_text("international format")
    expect(page.get_by_label("Mobile phone")).to_have_value("12345")
    page.get_by_label("Name").fill("Samantha Student")
    page.get_by_label("Mobile phone").fill("+33 6 12 34 56 78")
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_label("by SMS").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Profile saved")
    page.reload()
    expect(page.get_by_label("Name")).to_have_value("Samantha Student")
    expect(page.get_by_label("Mobile phone")).to_have_value("+33612345678")
    expect(page.get_by_label("by SMS")).to_be_checked()
    expect(page.locator("body")).to_have_attribute("data-tz", "America/New_York")


def test_changing_the_password_signs_out_other_browsers_but_not_this_one(
    live_server, new_context, sign_in
):
    student = live_server.user("student", "Sam Student")
    elsewhere = sign_in(new_context(), student.email, next_path="/profile")
    page = sign_in(new_context(), student.email, next_path="/profile")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("a-brand-new-password-7")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#flash")).to_contain_text("Password changed")
    # This browser goes on: a write (CSRF from the renewed cookies) and a page load work.
    page.get_by_label("Name").fill("Sam Still Here")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Profile saved")
    page.reload()
    expect(page.get_by_label("Name")).to_have_value("Sam Still Here")
    # The other browser is signed out, refresh token included: it lands on the sign-in page.
    elsewhere.goto("/profile")
    expect(elsewhere.get_by_role("button", name="Sign in")).to_be_visible()
    assert "/login" in elsewhere.url


def test_an_expired_session_is_renewed_without_losing_work(live_server, new_context, sign_in):
    from datetime import timedelta as td

    live_server.app.config["JWT_ACCESS_TOKEN_EXPIRES"] = td(seconds=2)
    student = live_server.user("student", "Sam Student")
    page = sign_in(new_context(), student.email, next_path="/profile")
    refreshes: list[str] = []
    page.on(
        "request",
        lambda r: refreshes.append(r.url) if r.url.endswith("/api/auth/refresh") else None,
    )
    page.get_by_label("Name").fill("Sam Renewed")
    page.wait_for_timeout(3000)  # let the short access token expire (not a timing assertion)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Profile saved")
    assert len(refreshes) == 1  # the API call found its token expired and renewed it

    page.wait_for_timeout(3000)
    page.goto("/profile")  # the page request itself is refused, the sign-in page renews it
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Sam Renewed")
    assert len(refreshes) == 2
