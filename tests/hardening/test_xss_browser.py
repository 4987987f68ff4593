"""HTML/script typed into any user-entered text is shown as text, never run (real Chromium).

Each payload goes into every text a user controls that a page renders: names, class titles
and descriptions, chat messages, poll questions and options, slide and media file names,
recording titles, feedback comments, backend names, a provider's error message, the
sign-in form's email, SSO and error pages. Pages are visited as the people who see them:
dashboard, class page and editor, class room with its live panel (rendered by script from
the API), profile, unsubscribe page, and every admin page. The check is twofold: no payload
ever runs (window.__xss stays unset, no dialog opens) AND the page shows the payload
literally with no element created from it, so the test fails on missing escaping even
though the Content-Security-Policy would also block inline script. A new page: add it to
PAGES.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from portal_testing import PASSWORD, make_app, serving

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=2">',
    "<svg onload=window.__xss=3>",
    "'\"><iframe srcdoc='<script>parent.__xss=4</script>'>",
    '{{7*7}}<a href="javascript:window.__xss=5">x</a>',
]
# The portal's own JSON data islands (<script type="application/json">, filled by |tojson,
# which escapes < > &) are data, never run: everything else inline would be injected.
INJECTED = (
    "img[src='x'], svg[onload], iframe[srcdoc], a[href^='javascript:'], "
    "script:not([src]):not([type='application/json'])"
)


def _seed_classroom(teacher, student, admin) -> dict:
    """A class about to start, with every kind of user-entered text in it, and one that
    took place (feedback), a backend and a failed notification for the admin pages."""
    from content_utils import make_pdf, past_class

    from portal.core import chat, classes, feedback, media, notifications, polls, slides
    from portal.core.models import BackendConfig, Notification, Recording
    from portal.core.types import utcnow
    from portal.extensions import db

    live = classes.create_class(
        teacher,
        classes.ClassInput(
            title=f"Live {PAYLOADS[0]}",
            starts_at=utcnow() + timedelta(minutes=5),
            duration_minutes=60,
            timezone="UTC",
            description=PAYLOADS[1],
        ),
    )
    classes.enrol(teacher, live.id, [student.id])
    schedule = classes.list_schedules(teacher, live.id)[0]
    for payload in PAYLOADS:
        chat.post_message(student, schedule.id, payload)
    poll = polls.create_poll(
        teacher, schedule.id, question=f"Q {PAYLOADS[2]}", options=[PAYLOADS[3], PAYLOADS[4]]
    )
    polls.open_poll(teacher, poll["id"])
    slides.upload_slide(teacher, live.id, f"{PAYLOADS[2]}.pdf", make_pdf())
    media.upload_media(student, live.id, f"{PAYLOADS[3]}.pdf", make_pdf(), schedule.id)
    db.session.add(
        Recording(
            class_id=live.id,
            backend="fake",
            backend_record_id="xss-rec",
            title=f"R {PAYLOADS[4]}",
            recorded_at=utcnow(),
            visibility="published",
            playback_url="https://fake.example/play",
        )
    )
    past, past_schedule = past_class(teacher, [student], title=f"Past {PAYLOADS[1]}")
    feedback.rate_occurrence(student, past_schedule.id, 2, comment=f"F {PAYLOADS[0]}")
    db.session.add(
        BackendConfig(
            name=f"B {PAYLOADS[2]}"[:100],
            backend="fake",
            enabled=True,
            health_ok=True,  # passed its connection test: offered to teachers
            is_default=True,
            settings={"url": "https://fake.example"},
        )
    )
    db.session.add(
        Notification(
            user_id=student.id,
            schedule_id=schedule.id,
            kind="class_started",
            key="xss",
            channel="email",
            due_at=utcnow(),
            status="failed",
            attempts=3,
            error=f"SMTP 550: {PAYLOADS[4]}",
        )
    )
    db.session.commit()
    return {
        "live": live.id,
        "schedule": schedule.id,
        "past": past.id,
        "unsubscribe": notifications.unsubscribe_url(student, "email").split("/unsubscribe/", 1)[1],
    }


@pytest.fixture
def portal(database_url, tmp_path, make_user):
    from portal.core import classes
    from portal.core.types import utcnow
    from portal.extensions import db

    app = make_app(
        database_url,
        tmp_path,
        SSO_INSP_ISSUER="https://insp.school.test",
        SSO_INSP_AUDIENCE="https://portal.school.test",
        SSO_INSP_HS256_SECRET="x" * 40,
        SSO_INSP_LOGIN_URL="https://insp.school.test/in",
    )
    with app.app_context():
        # Names are at most 200 characters: two payloads each; class titles carry all of them.
        teacher = make_user("teacher", name="T " + " ".join(PAYLOADS[:2]))
        student = make_user("student", name="S " + " ".join(PAYLOADS[2:4]))
        admin = make_user("admin", name="A " + PAYLOADS[4])
        for n, payload in enumerate(PAYLOADS):
            klass = classes.create_class(
                teacher,
                classes.ClassInput(
                    title=f"C{n} {payload}"[:200],
                    starts_at=utcnow() + timedelta(days=1),
                    duration_minutes=30,
                    timezone="UTC",
                    description=payload,
                ),
            )
            classes.enrol(teacher, klass.id, [student.id])
        db.session.commit()
        ids = _seed_classroom(teacher, student, admin)
        people = {"teacher": teacher.email, "student": student.email, "admin": admin.email, **ids}
        db.session.remove()
    with serving(app) as url:
        yield url, people


def _sign_in(page, base, email, password=PASSWORD):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()


# Each role signs in through the form once; its later visits carry that session's cookies
# (each visit starts from cleared cookies, so no visit sees another role's session).
_sessions: dict[str, list] = {}


def _as(page, base, email):
    if email in _sessions:
        page.context.add_cookies(_sessions[email])
    else:
        _sign_in(page, base, email)
        _sessions[email] = page.context.cookies()


def _dashboard_as(role):
    def visit(page, base, emails):
        _as(page, base, emails[role])
        page.goto(base + "/")
        page.wait_for_load_state()
        return [p for p in PAYLOADS]  # names and titles: every payload appears

    return visit


def _failed_sign_in(payload):
    def visit(page, base, emails):
        _sign_in(page, base, payload[:200] + "@x.org", "wrong-password")
        return []  # the email is echoed in the form field's value, not as text

    return visit


def _sso_error(payload):
    def visit(page, base, emails):
        from urllib.parse import quote

        page.goto(f"{base}/sso/insp/login?token={quote(payload)}&next={quote(payload)}")
        page.wait_for_load_state()
        return []

    return visit


def _error_page(payload):
    def visit(page, base, emails):
        from urllib.parse import quote

        page.goto(f"{base}/{quote(payload)}")
        page.wait_for_load_state()
        return []

    return visit


def _signed_in(role, path, shown=()):
    """Visit `path` (a format string over the seeded ids) as `role`; `shown` must appear."""

    def visit(page, base, people):
        _as(page, base, people[role])
        page.goto(base + path.format(**people))
        page.wait_for_load_state()
        return list(shown)

    return visit


def _unsubscribe_page(page, base, people):
    page.goto(f"{base}/unsubscribe/{people['unsubscribe']}")
    page.wait_for_load_state()
    return []


P = PAYLOADS
PAGES = {
    "dashboard (teacher)": _dashboard_as("teacher"),
    "dashboard (student)": _dashboard_as("student"),
    **{f"failed sign-in {n}": _failed_sign_in(p) for n, p in enumerate(PAYLOADS)},
    **{f"sso error {n}": _sso_error(p) for n, p in enumerate(PAYLOADS)},
    **{f"error page {n}": _error_page(p) for n, p in enumerate(PAYLOADS)},
    "class page (teacher)": _signed_in(
        "teacher",
        "/classes/{live}",
        [
            P[0],
            P[1],
            f"S {P[2]} {P[3]}",
            f"R {P[4]}",
            # slide and media names, cleaned for storage
            "window.__xss=3",
            "parent.__xss=4",
        ],
    ),
    "class page (student)": _signed_in("student", "/classes/{live}", [P[0], P[1]]),
    "class editor": _signed_in("teacher", "/classes/{live}/edit"),
    "past class with feedback (teacher)": _signed_in(
        "teacher", "/classes/{past}", [P[1], f"F {P[0]}"]
    ),
    "past class with feedback (student)": _signed_in("student", "/classes/{past}", [P[1]]),
    "class room (teacher)": _signed_in("teacher", "/schedules/{schedule}", [*P, f"Q {P[2]}"]),
    "class room (student)": _signed_in("student", "/schedules/{schedule}", [*P, f"Q {P[2]}"]),
    "past room (student)": _signed_in("student", "/schedules/{schedule}"),
    "profile": _signed_in("student", "/profile"),
    "unsubscribe": _unsubscribe_page,
    "admin home": _signed_in("admin", "/admin"),
    "admin users": _signed_in("admin", "/admin/users", [f"T {P[0]} {P[1]}", f"S {P[2]} {P[3]}"]),
    "admin backends": _signed_in("admin", "/admin/backends", [f"B {P[2]}"]),
    "admin notifications": _signed_in(
        "admin", "/admin/notifications", [f"SMTP 550: {P[4]}", f"Live {P[0]}"]
    ),
    "admin settings": _signed_in("admin", "/admin/settings"),
    "admin plugins": _signed_in("admin", "/admin/plugins"),
}


def _shows(page, payloads, seconds: float = 10.0) -> list[str]:
    """The payloads not (yet) on the page; panels fill in from the API after load."""
    deadline = time.monotonic() + seconds
    while True:
        text = page.inner_text("body")
        missing = [p for p in payloads if p not in text]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.2)


def test_injected_markup_never_runs(portal, page):
    base, emails = portal
    _sessions.clear()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    checked = 0
    for name, visit in PAGES.items():
        page.context.clear_cookies()
        shown = visit(page, base, emails)
        assert page.evaluate("() => window.__xss === undefined"), f"{name}: an injected script ran"
        assert page.locator(INJECTED).count() == 0, f"{name}: markup from user text became elements"
        missing = _shows(page, shown)
        assert not missing, f"{name}: not shown literally: {missing}"
        # Checked again after the panels rendered what they fetched.
        assert page.evaluate("() => window.__xss === undefined"), f"{name}: an injected script ran"
        assert page.locator(INJECTED).count() == 0, f"{name}: markup from user text became elements"
        checked += 1
    assert not dialogs
    print(f"\nxss: {len(PAYLOADS)} payloads on {checked} page visits, none ran")
