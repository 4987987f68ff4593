"""The core's shared test fixtures and helpers, for the core suite and every plugin's tests.

The repository's root conftest.py registers this module once for the whole run
(`pytest_plugins`), so its session fixtures (one migrated database per run) are shared by
tests/ and plugins/*/tests/ alike. Test modules import the helpers by name:
`from portal_testing import PASSWORD, make_app, sign_in, wipe_database`.

PORTAL_TEST_DATABASE_URL / PORTAL_TEST_REDIS_URL point the suite at real services (CI);
without them it runs on SQLite and skips Redis tests, unless PORTAL_REQUIRE_SERVICES=1,
which turns every missing service into a failure."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import fake_backend
import pytest
import sqlalchemy as sa
from fake_backend import FAKE

from portal import create_app
from portal.core.types import utcnow
from portal.extensions import db

REQUIRE_SERVICES = os.environ.get("PORTAL_REQUIRE_SERVICES") == "1"


def missing_service(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (PORTAL_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def _postgres_admin_url() -> str | None:
    return os.environ.get("PORTAL_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A fresh, migrated database for this test session."""
    admin_url = _postgres_admin_url()
    if admin_url:
        name = f"portal_test_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
        engine.dispose()
        url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.sqlite3'}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
        }
    )
    with app.app_context():
        from portal.plugin_setup import upgrade_database

        upgrade_database()  # the core's migrations and every plugin's
        db.engine.dispose()
    yield url
    if admin_url:
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("PORTAL_TEST_REDIS_URL")
    if not url:
        missing_service("Redis (PORTAL_TEST_REDIS_URL)")
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError:
        missing_service(f"Redis at {url}")
    return url


def make_app(database_url: str, tmp_path: Path, **overrides):
    config = {
        "DATABASE_URL": database_url,
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
        "STORAGE_DIR": str(tmp_path / "files"),
        "EXTRA_PLUGINS": [fake_backend],
        "LOG_JSON": True,
        "MEETING_START_WAIT_SECONDS": 5,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "PASSWORD_HASH_PROFILE": "cheapest-for-tests",
    }
    config.update(overrides)
    return create_app(config)


def wipe_database(app) -> None:
    """Delete every row (the schema stays): the next test starts from an empty database."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


def in_context(application) -> Iterator:
    """Yield `application` inside its app context; afterwards every row is wiped (for a
    fixture that needs an app made with its own configuration)."""
    ctx = application.app_context()
    ctx.push()
    yield application
    db.session.remove()
    ctx.pop()
    wipe_database(application)


@pytest.fixture
def app(database_url, tmp_path):
    FAKE.reset()
    yield from in_context(make_app(database_url, tmp_path))


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """A small JSON client that signs in as a user and sends the bearer token."""

    def __init__(self, client, token: str | None = None):
        self.client = client
        self.token = token

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(), **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(
            url, json=json if json is not None else {}, headers=self._headers(), **kw
        )

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json or {}, headers=self._headers(), **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self._headers(), **kw)


PASSWORD = "correct-horse-battery"


@pytest.fixture
def make_user(app):
    from portal.core import users

    counter = iter(range(1, 10_000))

    def factory(role: str = "student", name: str | None = None, **kw):
        n = next(counter)
        user = users.create_user(
            None,
            email=kw.pop("email", f"{role}{n}@tests.school"),
            name=name or f"{role.title()} {n}",
            role=role,
            password=PASSWORD,
            **kw,
        )
        db.session.commit()
        return user

    return factory


def sign_in(client, user) -> Api:
    """An API client for `user` (created with PASSWORD) on the given test client's app."""
    response = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    # The bearer API client must not also carry the login cookies (CSRF would apply).
    client._cookies.clear()
    return Api(client, response.get_json()["access_token"])


@pytest.fixture
def login(client):
    def as_user(user) -> Api:
        return sign_in(client, user)

    return as_user


@pytest.fixture
def fake_config(app, make_user):
    from portal.core.models import BackendConfig
    from portal.core.security import encrypt_secret

    config = BackendConfig(
        name="Fake",
        backend="fake",
        enabled=True,
        is_default=True,
        settings={"url": "https://fake.example", "secret": encrypt_secret("s3cret-value-123")},
    )
    db.session.add(config)
    db.session.commit()
    return config


@pytest.fixture
def school(app, make_user, fake_config):
    """A teacher with a class starting in 5 minutes, two enrolled students, and outsiders."""
    from portal.core import classes

    teacher = make_user("teacher")
    other_teacher = make_user("teacher")
    admin = make_user("admin")
    student = make_user("student")
    classmate = make_user("student")
    outsider = make_user("student")
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title="Algebra",
            starts_at=utcnow() + timedelta(minutes=5),
            duration_minutes=60,
            timezone="Europe/Paris",
        ),
    )
    classes.enrol(teacher, klass.id, [student.id, classmate.id])
    db.session.commit()
    schedule = classes.list_schedules(teacher, klass.id)[0]
    return type(
        "School",
        (),
        dict(
            teacher=teacher,
            other_teacher=other_teacher,
            admin=admin,
            student=student,
            classmate=classmate,
            outsider=outsider,
            klass=klass,
            schedule=schedule,
            config=fake_config,
        ),
    )


# Headless Chromium for browser tests: Debian's /usr/bin/chromium (PORTAL_CHROMIUM overrides
# it), never a browser Playwright would download.
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def launch_chromium(playwright, *extra_args: str, **options):
    """Launch headless Chromium with CHROMIUM_ARGS plus `extra_args` from a (sync) Playwright.

    A missing browser skips the test, or fails it under PORTAL_REQUIRE_SERVICES=1."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        missing_service(f"Chromium at {CHROMIUM}")
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args], **options
    )


@pytest.fixture
def page():
    """A Chromium page (15 s default timeout) in a fresh browser of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context()
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """`app` over real HTTP on 127.0.0.1 (an ephemeral port) from a thread, as `portal serve`
    runs it: pages and API plus the live panel's realtime server; yields its URL."""
    import asyncio

    import uvicorn

    from portal.realtime import RealtimeServer

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    realtime = RealtimeServer(app)
    config = uvicorn.Config(
        realtime.asgi(with_web=True),
        lifespan="on",
        log_level="warning",
        ws="websockets-sansio",
        timeout_graceful_shutdown=2,
        ws_ping_interval=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="test-portal", daemon=True
    )
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=10)
        sock.close()


@pytest.fixture
def portal_url(app) -> Iterator[str]:
    """The `app` fixture served over real HTTP, for browsers, scripts and other processes."""
    with serving(app) as url:
        yield url
