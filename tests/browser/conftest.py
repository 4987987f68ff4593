"""A live portal (served as `portal serve` does, from a thread; the fake meeting backend) and
headless Chromium (Debian's chromium-headless-shell, never a downloaded browser) for page journeys.
Screenshots of every open page are saved under test-output/ when a test fails."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fake_backend
import pytest
from fake_backend import FAKE
from portal_testing import PASSWORD, checkin_app, checkout_app, serving

from portal.extensions import db

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@dataclass
class LiveServer:
    app: object
    url: str

    def user(self, role: str, name: str, email: str | None = None, **kw):
        from portal.core import users

        with self.app.app_context():
            user = users.create_user(
                None,
                email=email or f"{name.split()[0].lower()}@tests.school",
                name=name,
                role=role,
                password=PASSWORD,
                **kw,
            )
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def fake_backend_config(self) -> int:
        from portal.core.models import BackendConfig
        from portal.core.security import encrypt_secret

        with self.app.app_context():
            config = BackendConfig(
                name="Fake",
                backend="fake",
                enabled=True,
                health_ok=True,  # passed its connection test: offered to teachers
                is_default=True,
                settings={
                    "url": "https://fake.example",
                    "secret": encrypt_secret("s3cret-value-123"),
                },
            )
            db.session.add(config)
            db.session.commit()
            return config.id

    def class_with(
        self, teacher, students, *, title: str, starts_in: timedelta, minutes: int = 60
    ) -> tuple[int, int]:
        """A one-off class starting `starts_in` from now; returns (class id, schedule id)."""
        from portal.core import classes
        from portal.core.models import User
        from portal.core.types import utcnow

        with self.app.app_context():
            actor = db.session.get(User, teacher.id)
            klass = classes.create_class(
                actor,
                classes.ClassInput(
                    title=title,
                    starts_at=utcnow() + starts_in,
                    duration_minutes=minutes,
                    timezone="Europe/Paris",
                ),
            )
            if students:
                classes.enrol(actor, klass.id, [s.id for s in students])
            db.session.commit()
            return klass.id, classes.list_schedules(actor, klass.id)[0].id

    def recording(self, class_id: int, config_id: int, **fields) -> int:
        """A finished recording of the class on the fake backend (recorded 2026-11-20 09:00
        UTC); `fields` set or override its columns. Returns its id."""
        from portal.core.models import Recording

        with self.app.app_context():
            row = Recording(
                class_id=class_id,
                backend="fake",
                backend_config_id=config_id,
                recorded_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
                **fields,
            )
            db.session.add(row)
            db.session.commit()
            return row.id

    def start(self, teacher, schedule_id: int) -> None:
        from portal.core import meetings
        from portal.core.models import User

        with self.app.app_context():
            meetings.start_class(db.session.get(User, teacher.id), schedule_id)
            db.session.commit()


@pytest.fixture
def live_plugins() -> list:
    """Extra plugins for the live portal; a test module overrides this fixture."""
    return []


@pytest.fixture
def live_server(database_url, tmp_path, live_plugins):
    """The tests' app (portal_testing's configuration: the fake backend, many sign-ins allowed
    per minute, the cheapest password hashing) with `live_plugins`, served over HTTP; lent
    for this test by `checkout_app` and wiped afterwards."""
    FAKE.reset()
    lent = checkout_app(database_url, tmp_path, EXTRA_PLUGINS=[fake_backend, *live_plugins])
    app = lent.app
    try:
        with serving(app) as url:
            app.config["BASE_URL"] = url
            yield LiveServer(app=app, url=url)
    finally:
        checkin_app(lent)


@pytest.fixture
def new_context(browser, live_server, request):
    """Open isolated browser contexts (one per person); screenshot them all on failure."""
    contexts = []

    def factory(viewport=None):
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport or {"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        # The fake backend's join URLs point at https://fake.example: answer them locally.
        context.route(
            re.compile(r"^https://fake\.example/.*"),
            lambda route: route.fulfill(
                status=200, content_type="text/html", body="<h1>Fake meeting</h1>"
            ),
        )
        contexts.append(context)
        return context

    yield factory
    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None
        and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    if failed:
        OUTPUT.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                # A crashed page must not hide the test's own failure.
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(OUTPUT / f"{name}-{i}-{j}.png"), full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def snap():
    """snap(page, name): with PORTAL_SCREENSHOTS=1, keep a screenshot under test-output/pages/."""

    def take(page, name: str) -> None:
        if os.environ.get("PORTAL_SCREENSHOTS") == "1":
            (OUTPUT / "pages").mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT / "pages" / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def sign_in():
    return _sign_in


def _sign_in(context, email: str, password: str = PASSWORD, next_path: str | None = None):
    page = context.new_page()
    page.goto("/login" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page
