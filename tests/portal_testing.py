"""The core's shared test fixtures and helpers, for the core suite and every plugin's tests.

The repository's root conftest.py registers this module once for the whole run
(`pytest_plugins`), so its session fixtures (one migrated database per run) are shared by
tests/ and plugins/*/tests/ alike. Test modules import the helpers by name:
`from portal_testing import PASSWORD, make_app, sign_in, wipe_database`.

Isolation: the `app` fixture is one app shared by the run, each test inside one database
transaction rolled back at its end (`rolled_back`); tests whose rows other threads or
processes must read get an app of their own, real commits and a table wipe
(`needs_real_commits`, the `real_commits` marker); that app is lent per configuration
(`checkout_app`: built once, reset as new for each test, kept after the wipe). Time: the
`clock` fixture freezes and steps the portal's clock (portal/core/clock.py) so no test sleeps
through a due time.

PORTAL_TEST_DATABASE_URL / PORTAL_TEST_REDIS_URL point the suite at real services (CI);
without them it runs on SQLite and skips Redis tests, unless PORTAL_REQUIRE_SERVICES=1,
which turns every missing service into a failure.

Parallel runs (`make test`: pytest-xdist, `-n 4 --dist loadgroup`): each worker process gets
its own database (the name carries the worker id), its own Redis database number
(`worker_redis_url`), its own block of ports for servers that must know their port before
they bind (`free_port`), its own tmp dirs (pytest's, per worker) and its own Chromium
(`browser`, one per process, a fresh context per test). A test file runs whole on one worker
(`pytest_collection_modifyitems`); files that must not overlap share an `xdist_group`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import fake_backend
import jinja2
import jinja2.bccache
import pytest
import sqlalchemy as sa
from fake_backend import FAKE
from flask import Flask, current_app
from flask_sqlalchemy.session import Session as FlaskSession

from portal import create_app
from portal.core import clock as portal_clock
from portal.core.types import utcnow
from portal.extensions import db

REQUIRE_SERVICES = os.environ.get("PORTAL_REQUIRE_SERVICES") == "1"
# Every test app's key; a server process a test starts needs it to accept the test's tokens.
TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"

# The pytest-xdist worker this process is ("gw0", "gw1", ...; "" without xdist) and its index.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_INDEX = int(XDIST_WORKER.removeprefix("gw")) if XDIST_WORKER else 0


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Under `--dist loadgroup`, keep each test file on one worker (its module fixtures start
    once) unless the file names a group of its own (`xdist_group`) shared with files that
    must not run at the same time as each other. Runs before pytest-xdist reads the marks."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    if hasattr(config, "workerinput"):  # an xdist worker: its order is the hand-out order
        items[:] = sorted(items, key=_longest_groups_first)


# The groups that take longest (pytest --durations of the whole suite on PostgreSQL, 2026-12,
# in seconds of one worker under load): handed out first, so the workers end together on
# short files instead of one running a long group alone at the end. The SFU assembly is no
# longer among them (its encoder runs one thread since 2026-12: ~45 s under load, was ~800 s).
# `make test` passes --no-loadscope-reorder, or pytest-xdist would hand out the groups with
# the most tests first. A stale list only changes the order.
LONGEST_GROUPS_FIRST = (
    "plugins/notify_email/tests/test_celery_reminders.py",  # ~620 s
    "media",  # ~550 s, the SFU's real-time media files (never two at once)
    "tests/hardening/test_fuzz_api.py",  # ~400 s
)


def _longest_groups_first(item) -> int:
    marker = item.get_closest_marker("xdist_group")
    group = marker.args[0] if marker.args else marker.kwargs.get("name")
    try:
        return LONGEST_GROUPS_FIRST.index(group)
    except ValueError:
        return len(LONGEST_GROUPS_FIRST)


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
        name = f"portal_test_{XDIST_WORKER or 'main'}_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
            # A throwaway database: a commit need not wait for its WAL to reach the disk (5.5
            # ms a commit on this machine's disk, 0.4 ms without). What a committed row looks
            # like to every other connection is unchanged; only a crash could lose the last
            # commits. Every connection to it, the subprocesses' too, gets this.
            conn.execute(sa.text(f'alter database "{name}" set synchronous_commit = off'))
        engine.dispose()
        url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.sqlite3'}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "SECRET_KEY": TEST_SECRET_KEY,
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


def worker_redis_url(url: str, worker_index: int = WORKER_INDEX) -> str:
    """PORTAL_TEST_REDIS_URL for this worker: worker N uses the database number N below the
    given one (CI gives 15: workers gw0 to gw3 use databases 15, 14, 13 and 12), so no two
    workers flush or scan each other's keys."""
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) - worker_index
    if number < 0:
        pytest.fail(f"{url}: no Redis database number left for xdist worker {worker_index}")
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture
def private_database_url(tmp_path) -> Iterator[str]:
    """A database of its own (PostgreSQL when PORTAL_TEST_DATABASE_URL is set, else SQLite):
    downgrading the session's shared database would break every other test."""
    admin_url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if not admin_url:
        yield f"sqlite:///{tmp_path / 'lint.sqlite3'}"
        return
    name = f"portal_private_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'create database "{name}"'))
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("PORTAL_TEST_REDIS_URL")
    if not url:
        missing_service("Redis (PORTAL_TEST_REDIS_URL)")
    url = worker_redis_url(url)
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError:
        missing_service(f"Redis at {url}")
    return url


# Servers that must be told their port before they bind it (SMTP, the OpenID provider, a
# throwaway Redis or PostgreSQL, a port nobody listens on) take one from this worker's own
# block, below the kernel's ephemeral range (32768+): two workers never pick the same port,
# and no socket bound to port 0 elsewhere takes it in between. The random start keeps two
# separate runs on one machine from walking the same sequence.
PORT_BLOCK = 1000
FIRST_PORT = 20000 + WORKER_INDEX * PORT_BLOCK
_port_offsets = itertools.count(random.randrange(PORT_BLOCK))


def free_port() -> int:
    """A port on 127.0.0.1 free right now, from this worker's block."""
    for _ in range(PORT_BLOCK):
        port = FIRST_PORT + next(_port_offsets) % PORT_BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {FIRST_PORT}-{FIRST_PORT + PORT_BLOCK - 1}")


def _test_config(database_url: str, tmp_path: Path, overrides: dict) -> dict:
    config = {
        "DATABASE_URL": database_url,
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "STORAGE_DIR": str(tmp_path / "files"),
        "EXTRA_PLUGINS": [fake_backend],
        "LOG_JSON": True,
        "MEETING_START_WAIT_SECONDS": 5,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "PASSWORD_HASH_PROFILE": "cheapest-for-tests",
    }
    config.update(overrides)
    return config


class _CompiledTemplates(jinja2.BytecodeCache):
    """The templates' compiled code, shared by every app this test process builds: each new
    app would otherwise lex, parse and compile the same templates again (~1 s of CPU for all
    of them). Jinja recompiles an entry whose template source changed (its checksum); the key
    names the settings that change the compiled code, so an app whose Jinja is set up
    differently compiles its own."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def get_bucket(self, environment, name, filename, source):
        settings = (
            sorted(environment.extensions),
            getattr(environment, "newstyle_gettext", None),
            environment.optimized,
            environment.autoescape if isinstance(environment.autoescape, bool) else "select",
            environment.trim_blocks,
            environment.lstrip_blocks,
            environment.keep_trailing_newline,
            environment.line_statement_prefix,
            environment.line_comment_prefix,
            environment.block_start_string,
            environment.variable_start_string,
            environment.comment_start_string,
        )
        bucket = jinja2.bccache.Bucket(
            environment,
            self.get_cache_key(f"{settings!r}|{name}", filename),
            self.get_source_checksum(source),
        )
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()


def make_app(database_url: str, tmp_path: Path, **overrides):
    """A new app on `database_url` with the tests' configuration plus `overrides`."""
    global _apps_made
    _apps_made += 1
    application = create_app(_test_config(database_url, tmp_path, overrides))
    application.jinja_env.bytecode_cache = _COMPILED_TEMPLATES
    return application


# How many apps make_app built or `checkout_app` lent, and how many had been when the tables
# were last wiped: an app's commits are real, so a test that built one (with or without the
# `app` fixture) may have left rows, and the next test on the `app` fixture wipes them first.
_apps_made = 0
_apps_made_at_last_wipe = 0


def wipe_database(app, *, keep_connection: bool = False) -> None:
    """Delete every row (the schema stays): the next test starts from an empty database.

    The app's pooled connections are closed, unless `keep_connection` (an app kept for later
    tests): it keeps one idle connection, so its next test does not connect again (6 ms of
    the test's CPU on PostgreSQL, and a new server process), and no more, so the apps a
    worker keeps hold a connection each (PostgreSQL's max_connections is 100)."""
    global _apps_made_at_last_wipe
    _apps_made_at_last_wipe = _apps_made
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            _delete_every_row(conn)
        if keep_connection:
            _keep_one_idle_connection(db.engine)
        else:
            db.engine.dispose()


def _delete_every_row(conn: sa.Connection) -> None:
    """DELETE on every table, children first. On PostgreSQL all in one statement string, one
    round trip (38 tables, 2026-12: 0.5 ms of the test's CPU and 1.0 ms of the server's,
    against 5.3 and 1.8 ms for one statement a table); TRUNCATE of the same tables took 120 ms
    of the server's CPU, it creates new files for every table. SQLite runs one statement per
    call; text statements skip compiling each table's DELETE again (4 -> 1 ms)."""
    quote = conn.dialect.identifier_preparer.format_table
    deletes = [f"DELETE FROM {quote(table)}" for table in reversed(db.metadata.sorted_tables)]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("; ".join(deletes))
        return
    for delete in deletes:
        conn.exec_driver_sql(delete)


def _keep_one_idle_connection(engine: sa.Engine) -> None:
    """Close all but one of the engine's idle pooled connections (threads of the last test
    may have opened several)."""
    pool = engine.pool
    extra = [pool.connect() for _ in range(pool.checkedin() - 1)]
    for connection in extra:
        connection.detach()  # out of the pool: closing it closes the database connection
        connection.close()


class _SessionOnTestConnection(FlaskSession):
    """Flask-SQLAlchemy's session, except that an app in rolled-back mode (`rolled_back`) runs
    every statement on that test's one connection, inside its outer transaction."""

    def get_bind(self, *args, **kwargs):
        held = _TEST_CONNECTIONS.get(id(current_app._get_current_object()))
        if held is None:
            return super().get_bind(*args, **kwargs)
        connection, owner = held
        if threading.current_thread() is not owner:
            raise RuntimeError(
                "another thread uses an app whose test runs in one rolled-back transaction: "
                "mark the test @pytest.mark.real_commits"
            )
        return connection


# id(app) -> (the connection holding that test's outer transaction, the test's thread).
_TEST_CONNECTIONS: dict[int, tuple[sa.Connection, threading.Thread]] = {}
# A commit in a service releases a SAVEPOINT inside the test's transaction; a rollback
# returns to it: services that commit (claims, compare-and-set) behave as in production.
db.session = db._make_scoped_session(
    {"class_": _SessionOnTestConnection, "join_transaction_mode": "create_savepoint"}
)


def _sqlite_emits_its_own_begin(engine: sa.Engine) -> None:
    """pysqlite opens transactions lazily and ignores SAVEPOINT bookkeeping; let SQLAlchemy
    emit BEGIN itself so the outer transaction and its savepoints are real (the SQLAlchemy
    docs' "Serializable isolation / Savepoints / Transactional DDL" recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _explicit_begin(connection):
        connection.exec_driver_sql("BEGIN")

    engine.dispose()


@contextlib.contextmanager
def rolled_back(app) -> Iterator[None]:
    """Run `app`'s database work (inside its app context) in one transaction on one connection,
    rolled back at the end: the next test starts from the empty database without a wipe.
    Only for work in this thread: other threads and processes would not see the rows.

    Inside an outer `rolled_back` of the same app (a module's shared world, built once and
    never committed), this one is a SAVEPOINT of it: the test sees the world and leaves it
    as it found it."""
    held = _TEST_CONNECTIONS.get(id(app))
    if held is not None:
        nested = held[0].begin_nested()
        try:
            yield
        finally:
            db.session.remove()
            nested.rollback()
        return
    connection = db.engine.connect()
    outer = connection.begin()
    _TEST_CONNECTIONS[id(app)] = (connection, threading.current_thread())
    try:
        yield
    finally:
        db.session.remove()
        del _TEST_CONNECTIONS[id(app)]
        outer.rollback()
        connection.close()


# Fixtures that serve the app to other threads or processes, which must see committed rows.
SERVED_FIXTURES = {"portal_url"}


def needs_real_commits(request) -> bool:
    """Tests that serve the app over HTTP, build apps of their own on the session database
    (the test or one of its fixtures asks for `database_url`: a second app, worker or
    scheduler thread) or carry the `real_commits` marker commit for real on an app of their
    own and get the table wipe afterwards."""
    info = request.node._fixtureinfo
    builds_apps = {
        name
        for name, defs in info.name2fixturedefs.items()
        if name not in ("app", "_shared_app") and "database_url" in defs[-1].argnames
    }
    return (
        request.node.get_closest_marker("real_commits") is not None
        or "database_url" in info.argnames
        or bool(builds_apps)
        or bool(SERVED_FIXTURES & set(request.fixturenames))
    )


# The Limiter object is one for every app; init_app leaves the storage of the app that called
# it last in these attributes, so each reused app keeps its own copy to put back.
_LIMITER_STATE = (
    "_storage",
    "_limiter",
    "_storage_uri",
    "_storage_options",
    "_strategy",
    "_fallback_storage",
    "_fallback_limiter",
    "_storage_dead",
)


def _route_count(app: Flask) -> int:
    return sum(1 for _rule in app.url_map.iter_rules())


@dataclass
class _ReusableApp:
    """An app built once and used by many tests, with the config, extensions and routes it had
    when built: each test gets them back (the per-app notification rate limiter, login
    guard, storage and live state start empty again, as in a new app)."""

    app: Flask
    config: dict
    extensions: dict
    limiter_state: dict
    rules: int
    pool_key: str = ""

    @classmethod
    def build(cls, database_url: str, tmp_path: Path, **overrides) -> _ReusableApp:
        from portal.extensions import limiter

        application = make_app(database_url, tmp_path, **overrides)
        limiter_state = {key: vars(limiter)[key] for key in _LIMITER_STATE if key in vars(limiter)}
        return cls(
            application,
            dict(application.config),
            dict(application.extensions),
            limiter_state,
            _route_count(application),
        )

    def reset(self, tmp_path: Path) -> None:
        from portal.core.notifications import rate_limit
        from portal.extensions import limiter

        vars(limiter).update(self.limiter_state)
        self.app.config.clear()
        self.app.config.update(self.config, STORAGE_DIR=str(tmp_path / "files"))
        self.app.extensions.clear()
        self.app.extensions.update(self.extensions)
        rate_limit.init_app(self.app)
        limiter.reset()

    def routes_unchanged(self) -> bool:
        return _route_count(self.app) == self.rules


@pytest.fixture(scope="session")
def _shared_app(database_url, tmp_path_factory) -> _ReusableApp:
    shared = _ReusableApp.build(database_url, tmp_path_factory.mktemp("shared-app"))
    with shared.app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_emits_its_own_begin(db.engine)
    return shared


# Apps of tests that commit for real, idle between tests, per configuration (building one
# costs about 0.2 s of CPU): `checkout_app` lends one reset as new, `checkin_app` wipes the
# tables and keeps it for the next test with the same configuration. An app whose routes a
# test changed is dropped. At most MAX_IDLE_APPS are kept (the least recently returned go).
MAX_IDLE_APPS = 8
_idle_apps: dict[str, list[_ReusableApp]] = {}


def _pool_key(database_url: str, overrides: dict) -> str:
    """The configuration an app is built from: the tests' config with `overrides` (but the
    per-test STORAGE_DIR) and the PORTAL_* environment create_app reads. Objects without a
    value repr (plugin instances) are told apart by address; an idle app holds its own, so
    no new object can take that address while the app waits."""
    config = _test_config(database_url, Path("/"), overrides)
    del config["STORAGE_DIR"]
    environment = sorted((k, v) for k, v in os.environ.items() if k.startswith("PORTAL_"))
    return repr((sorted(config.items()), environment))


def checkout_app(database_url: str, tmp_path: Path, **overrides) -> _ReusableApp:
    """An app with the tests' configuration plus `overrides` whose commits are real: an idle
    one reset as new (STORAGE_DIR under this `tmp_path`), or a new one."""
    global _apps_made
    key = _pool_key(database_url, overrides)
    idle = _idle_apps.get(key)
    if idle:
        lent = idle.pop()
        _apps_made += 1
    else:
        lent = _ReusableApp.build(database_url, tmp_path, **overrides)
        lent.pool_key = key
    lent.reset(tmp_path)
    return lent


def checkin_app(lent: _ReusableApp) -> None:
    """Wipe every row `lent`'s test left and keep the app for the next test like it."""
    if not lent.routes_unchanged():
        wipe_database(lent.app)
        return
    wipe_database(lent.app, keep_connection=True)
    _idle_apps.setdefault(lent.pool_key, []).append(lent)
    _idle_apps[lent.pool_key] = _idle_apps.pop(lent.pool_key)  # the most recent key last
    while sum(len(apps) for apps in _idle_apps.values()) > MAX_IDLE_APPS:
        oldest = next(iter(_idle_apps))
        with _idle_apps[oldest].pop(0).app.app_context():
            db.engine.dispose()  # its kept connection
        if not _idle_apps[oldest]:
            del _idle_apps[oldest]


@pytest.fixture
def app(request, database_url, tmp_path):
    """The portal app with its context pushed. By default one shared app whose test runs in
    one transaction rolled back at the end (`rolled_back`); a test that needs real commits
    (`needs_real_commits`) gets an app of its own and the table wipe afterwards.

    Who needs real commits, because another connection must see the rows: tests served over
    HTTP from a thread (`portal_url`, `serving()`), tests whose fixtures build apps, workers
    or schedulers of their own (they ask for `database_url`), and, marked `real_commits`,
    racing threads that each commit on their own connection (concurrent starts, claims,
    ballots, meeting data). Also marked, for reasons of their own: statement counts
    (test_query_counts: the SAVEPOINTs would be counted). The app of a real-commit test is
    lent by `checkout_app` (built once per configuration, reset as new for each test); a
    test that changes the app itself (adds a route) is marked `own_app` and gets a new one."""
    FAKE.reset()
    if _apps_made != _apps_made_at_last_wipe:
        # A test before this one built an app of its own and committed through it.
        wipe_database(request.getfixturevalue("_shared_app").app, keep_connection=True)
    if needs_real_commits(request):
        if request.node.get_closest_marker("own_app") is not None:
            application = make_app(database_url, tmp_path)
            lent = None
        else:
            lent = checkout_app(database_url, tmp_path)
            application = lent.app
        ctx = application.app_context()
        ctx.push()
        yield application
        db.session.remove()
        ctx.pop()
        if lent is None:
            wipe_database(application)
        else:
            checkin_app(lent)
        return
    shared = request.getfixturevalue("_shared_app")
    shared.reset(tmp_path)
    with shared.app.app_context(), rolled_back(shared.app):
        yield shared.app
    shared.reset(tmp_path)
    if _apps_made != _apps_made_at_last_wipe:  # the test built or was lent an app
        wipe_database(shared.app, keep_connection=True)


class FrozenClock:
    """The portal's clock (portal/core/clock.py) held still until a test steps it: due
    times, leases, lockouts and rate-limit windows move only when `advance()` says so."""

    def __init__(self, at: datetime) -> None:
        self._seconds = at.timestamp()

    def time(self) -> float:
        return self._seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._seconds, UTC)

    def advance(self, **delta: float) -> datetime:
        """Step forward by `timedelta(**delta)` (seconds=, minutes=, days=...); the new now."""
        self._seconds += timedelta(**delta).total_seconds()
        return self.now()

    def set(self, at: datetime) -> None:
        self._seconds = at.timestamp()


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """The portal's clock frozen at the real now for this test (every thread sees it);
    `clock.advance(minutes=5)` instead of sleeping. The system clock is back afterwards.
    Tokens signed by flask-jwt-extended and checked by PyJWT still use the real clock."""
    frozen = FrozenClock(datetime.now(UTC))
    portal_clock.use(frozen)
    try:
        yield frozen
    finally:
        portal_clock.reset()


def app_factory(database_url: str, tmp_path: Path, base_config: dict) -> Iterator:
    """Yield `factory(**overrides)`: apps built with `base_config` plus the overrides (a None
    value leaves a key out), each pushed as the current app; afterwards every row is wiped.
    For plugin tests whose apps need a configuration of their own (SSO providers)."""
    made = []

    def factory(**overrides):
        FAKE.reset()
        config = {**base_config, **overrides}
        lent = checkout_app(
            database_url, tmp_path, **{k: v for k, v in config.items() if v is not None}
        )
        ctx = lent.app.app_context()
        ctx.push()
        made.append((lent, ctx))
        return lent.app

    yield factory
    for lent, ctx in reversed(made):
        db.session.remove()
        ctx.pop()
        checkin_app(lent)


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


def user_factory():
    """`factory(role, name=None, **fields)`: a committed user with PASSWORD, numbered from 1
    (`teacher1@tests.school`, `student2@tests.school`, ...), in the current app.
    `commit=False` leaves the user flushed for the caller to commit with the rest of its
    world (one commit instead of one per user, and no reload of each expired user)."""
    from portal.core import users

    counter = iter(range(1, 10_000))

    def factory(role: str = "student", name: str | None = None, *, commit: bool = True, **kw):
        n = next(counter)
        user = users.create_user(
            None,
            email=kw.pop("email", f"{role}{n}@tests.school"),
            name=name or f"{role.title()} {n}",
            role=role,
            password=PASSWORD,
            **kw,
        )
        if commit:
            db.session.commit()
        return user

    return factory


@pytest.fixture
def make_user(app):
    return user_factory()


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
    return add_fake_config()


def add_fake_config():
    """The fake backend's configuration, enabled, default and healthy (committed)."""
    from portal.core.models import BackendConfig
    from portal.core.security import encrypt_secret

    config = BackendConfig(
        name="Fake",
        backend="fake",
        enabled=True,
        is_default=True,
        settings={"url": "https://fake.example", "secret": encrypt_secret("s3cret-value-123")},
        health_ok=True,  # passed its connection test: offered to teachers (backends.is_offered)
    )
    db.session.add(config)
    db.session.commit()
    return config


@pytest.fixture
def school(app, make_user, fake_config):
    """A teacher with a class starting in 5 minutes, two enrolled students, and outsiders."""
    return build_school(make_user, fake_config)


def build_school(make_user, fake_config):
    """The `school` fixture's world, made with `make_user` (a `user_factory()`)."""
    from portal.core import classes

    # Committed once, with the class and its enrolments below.
    teacher = make_user("teacher", commit=False)
    other_teacher = make_user("teacher", commit=False)
    admin = make_user("admin", commit=False)
    student = make_user("student", commit=False)
    classmate = make_user("student", commit=False)
    outsider = make_user("student", commit=False)
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


def enter_as_guest(
    app, teacher, class_id: int, *, viewer_only: bool = False, name: str = "Gus Guest"
):
    """Someone without an account enters through a new invite link of the class (made by
    `teacher`): answers the guest's own test client (holding the guest cookie) and guest id."""
    from portal.core import invites

    _link, token = invites.create_link(
        teacher, class_id, expires_at=utcnow() + timedelta(hours=1), viewer_only=viewer_only
    )
    db.session.commit()
    guest = app.test_client()
    entered = guest.post(f"/api/invite/{token}/enter", json={"name": name})
    assert entered.status_code == 201, entered.get_json()
    return guest, entered.get_json()["guest_id"]


# Headless Chromium for browser tests, never a browser Playwright would download: Debian's
# chromium-headless-shell, the headless-only build of the same Chromium (Blink, V8, WebRTC)
# that Playwright itself runs for headless Chromium. The full /usr/bin/chromium, which
# headless mode turns into a whole desktop browser without a window, spent 3-5 times the
# CPU per page (a new context with a page: 590 ms against 115 ms; a sign-in: 1.6 s against
# 0.4 s), about 40 % of the suite's CPU. It is used where the shell is not installed;
# PORTAL_CHROMIUM names another binary.
CHROMIUM = os.environ.get("PORTAL_CHROMIUM") or next(
    (
        path
        for path in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")
        if Path(path).exists()
    ),
    "/usr/bin/chromium-headless-shell",
)
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
    from playwright.async_api import expect as async_expect
    from playwright.sync_api import expect

    # Assertions wait as long as the pages' actions do (15 s): Playwright's 5 s default failed
    # checks whose outcome was right on a starved machine, where a page renders late.
    expect.set_options(timeout=15_000)
    async_expect.set_options(timeout=15_000)
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args], **options
    )


class _SharedChromium:
    """This process's one Playwright driver and headless Chromium, started by the first browser
    test and kept to the end of the run: every test gets fresh contexts (cookies, storage and
    cache of their own) from it instead of a driver and a browser per file (~1.7 s of CPU).

    A sync Playwright marks its asyncio loop as running in this thread between its calls, so
    the tests that run a loop of their own here (`asyncio.run`: aiortc, the SFU's own browsers)
    would fail while it is open. The mark is set only while a test holds the browser
    (`in_use`) and cleared otherwise; the loop itself waits, suspended, for the next call."""

    def __init__(self) -> None:
        self._manager = None
        self._playwright = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._browser = None

    @contextlib.contextmanager
    def in_use(self) -> Iterator:
        """The browser, with the Playwright loop marked running (as after each sync call) for
        the test's use; launched again if it went away (a crash must not fail later tests)."""
        if self._manager is None:
            from playwright.sync_api import sync_playwright

            self._manager = sync_playwright()
            self._playwright = self._manager.start()
            self._loop = asyncio.events._get_running_loop()
        else:
            asyncio.events._set_running_loop(self._loop)
        try:
            if self._browser is None or not self._browser.is_connected():
                self._browser = launch_chromium(self._playwright)
            yield self._browser
        finally:
            asyncio.events._set_running_loop(None)

    def close(self) -> None:
        if self._manager is None:
            return
        asyncio.events._set_running_loop(self._loop)
        if self._browser is not None:
            with contextlib.suppress(Exception):  # a crashed browser has nothing to close
                self._browser.close()
        self._manager.__exit__(None, None, None)
        self._manager = None


@pytest.fixture(scope="session")
def _shared_chromium() -> Iterator[_SharedChromium]:
    shared = _SharedChromium()
    yield shared
    shared.close()


@pytest.fixture
def browser(_shared_chromium):
    """Headless Chromium (launch_chromium), shared by this process's browser tests: open
    contexts of your own (`browser.new_context()`) and close them before the test ends."""
    with _shared_chromium.in_use() as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    """A Chromium page (15 s default timeout) in a fresh context of its own."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """`app` over real HTTP on 127.0.0.1 (an ephemeral port) from a thread, as `portal serve`
    runs it: pages and API plus the live panel's realtime server; yields its URL."""
    import uvicorn

    from portal.realtime_server import RealtimeServer

    if id(app) in _TEST_CONNECTIONS:
        raise RuntimeError(
            "serving() needs committed rows: mark the test @pytest.mark.real_commits"
        )

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
