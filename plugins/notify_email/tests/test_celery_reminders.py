"""End to end on the production setup: Redis, a real `portal worker` (Celery) and
`portal beat`, and a real SMTP server receiving the reminders."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from hardening_services import ThrowawayRedis
from portal_testing import checkin_app, checkout_app, missing_service
from smtp_double import SmtpDouble

from portal.core import blocking, classes, notifications, users
from portal.core.models import Notification
from portal.core.types import utcnow
from portal.extensions import db

pytestmark = pytest.mark.redis

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
# Celery's INFO log lines: beat's "Sending due task <entry>" for every tick it sends, the
# worker's "Task <name>[<id>] received", then "succeeded", "retry", "raised ..." for the task.
SCAN_SENT = b"Sending due task periodic:notifications-dispatch"
TASK_LINE = re.compile(rb"Task ([\w.]+)\[([0-9a-f-]+)\] (\w+)")
PORTAL = str(Path(sys.executable).parent / "portal")


def _clean_redis(url: str) -> None:
    """Empties the queues and the portal's keys. The queues' bindings (`_kombu.binding.*`)
    stay: they are the same in every test, and a beat already running (`SharedBeat`) would
    otherwise route its next scans to no queue."""
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(count=500):
        queued_or_portal = key.startswith((b"celery", b"_kombu", b"unacked", b"portal:notify:"))
        if queued_or_portal and not key.startswith(b"_kombu.binding."):
            client.delete(key)


class SharedBeat:
    """One `portal beat` for the module's tests on the shared Redis, started by the first
    test that asks for one: beat only sends the periodic jobs' ticks to Redis (the same
    schedule in every test; it reads neither the database nor the SMTP settings), and each
    start built the whole app (~5 s CPU). Ticks it sends between tests land in queues the
    next test empties before it starts."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None
        self.log_path = tmp / "beat-shared.log"

    def get(self, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        if self.proc is None or self.proc.poll() is not None:
            log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
            self.proc = subprocess.Popen(
                [PORTAL, "beat", "--schedule", str(self.tmp / "beat-schedule")],
                env=dict(env, PORTAL_INSTANCE_PATH=str(self.tmp / "instance")),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.proc, self.log_path

    def stop(self) -> None:
        if self.proc is not None:
            Services.kill(self.proc, signal.SIGTERM)


class Services:
    """The worker and beat processes of one test, with their logs."""

    def __init__(self, env: dict[str, str], tmp: Path, shared_beat: SharedBeat | None = None):
        self.env, self.tmp = env, tmp
        self.shared_beat = shared_beat
        self.procs: list[subprocess.Popen] = []
        self.log_paths: dict[int, tuple[str, Path]] = {}  # pid -> (kind, log file)

    def start(self, kind: str, *args: str) -> subprocess.Popen:
        path = self.tmp / f"{kind}-{len(self.procs)}.log"
        log = open(path, "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [PORTAL, kind, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        self.log_paths[proc.pid] = (kind, path)
        return proc

    def _logs_of(self, kind: str, running_only: bool = False) -> list[bytes]:
        return [
            path.read_bytes()
            for proc in self.procs
            for logged_kind, path in [self.log_paths[proc.pid]]
            if logged_kind == kind and not (running_only and proc.poll() is not None)
        ]

    def scans_sent(self) -> int:
        """Dispatch scans beat has sent (or tried to send, when the broker is down)."""
        return sum(log.count(SCAN_SENT) for log in self._logs_of("beat"))

    def periodic_received(self) -> int:
        """Periodic jobs (mostly dispatch scans) any worker has taken from the broker."""
        return sum(
            1
            for log in self._logs_of("worker")
            for name, _, event in TASK_LINE.findall(log)
            if name == b"portal.periodic" and event == b"received"
        )

    def workers_idle(self) -> bool:
        """Every task the running workers took has finished (succeeded, retried, failed)."""
        last_event: dict[bytes, bytes] = {}
        for log in self._logs_of("worker", running_only=True):
            for _, task_id, event in TASK_LINE.findall(log):
                last_event[task_id] = event
        return b"received" not in last_event.values()

    def worker(self, concurrency: int = 2) -> subprocess.Popen:
        return self.start(
            "worker",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--hostname",
            f"notify-{len(self.procs)}-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
        )

    def beat(self) -> subprocess.Popen:
        if self.shared_beat is None:
            return self.start("beat", "--schedule", str(self.tmp / "beat-schedule"))
        proc, path = self.shared_beat.get(self.env)
        self.procs.append(proc)
        self.log_paths[proc.pid] = ("beat", path)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        shared = self.shared_beat.proc if self.shared_beat else None
        for proc in self.procs:
            if proc is not shared:
                self.kill(proc, signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-3000:]
            for _, path in sorted(set(self.log_paths.values()))
        )


@contextlib.contextmanager
def running_portal(
    database_url: str, redis_url: str, tmp_path: Path, shared_beat: SharedBeat | None = None
):
    """The app (in this process), an SMTP server, and a place to start worker and beat."""
    smtp = SmtpDouble().start()
    _clean_redis(redis_url)
    config = {
        "BASE_URL": "https://portal.example",
        "SCHOOL_NAME": "Celery School",
        "MAIL_FROM": "Celery School <classes@school.example>",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_SECURITY": "none",
        "NOTIFY_SCAN_SECONDS": 1,
        "NOTIFY_LEASE_SECONDS": 8,
        "NOTIFY_RETRY_BACKOFF_SECONDS": 1,
        "REDIS_URL": redis_url,
    }
    # A lent app (built once for the module's tests, reset as new and its tables wiped after
    # each): building one per test was a fifth of this file's CPU. The SMTP port is each
    # test's own, so it is set on the lent app, not part of the configuration it is lent by
    # (the plugin reads it when it sends).
    lent = checkout_app(database_url, tmp_path, **config)
    app = lent.app
    app.config["SMTP_PORT"] = smtp.port
    env = dict(
        os.environ,
        PORTAL_DATABASE_URL=database_url,
        PORTAL_SECRET_KEY=SECRET,
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        PORTAL_LOG_JSON="false",
        PORTAL_SMTP_PORT=str(smtp.port),
        **{f"PORTAL_{k}": str(v) for k, v in config.items()},
    )
    services = Services(env, tmp_path, shared_beat)
    ctx = app.app_context()
    ctx.push()
    try:
        yield app, smtp, services
    finally:
        services.stop_all()
        smtp.stop()
        db.session.remove()
        ctx.pop()
        checkin_app(lent)
        with contextlib.suppress(Exception):
            _clean_redis(redis_url)


@pytest.fixture(scope="module")
def shared_beat(tmp_path_factory):
    beat = SharedBeat(tmp_path_factory.mktemp("beat"))
    yield beat
    beat.stop()


@pytest.fixture
def setup(database_url, redis_url, tmp_path, shared_beat):
    with running_portal(database_url, redis_url, tmp_path, shared_beat) as running:
        yield running


def _wait(predicate, timeout: float, what: str, services: Services) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}\n{services.logs()}")


def _wait_for_scans(services: Services, scans: int, what: str) -> None:
    """Let `scans` more dispatch scans run, instead of sleeping through their period: beat
    sent them, a worker took them, and the workers finished all they had, so an assertion
    that nothing more was sent comes after those scans really ran, however loaded the
    machine is."""
    sent, received = services.scans_sent(), services.periodic_received()
    _wait(
        lambda: (
            services.scans_sent() >= sent + scans
            and services.periodic_received() >= received + scans
            and services.workers_idle()
        ),
        60 + 5 * scans,
        what,
        services,
    )


def _class(teacher, title: str, due_in_seconds: float, students):
    # Offset 1 minute: the reminder is due `due_in_seconds` from now.
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title=title,
            starts_at=utcnow() + timedelta(seconds=60 + due_in_seconds),
            duration_minutes=30,
            timezone="Europe/Paris",
            reminder_offsets=[1],
        ),
    )
    classes.enrol(teacher, klass.id, [s.id for s in students])
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()
    return klass, classes.list_schedules(teacher, klass.id)[0]


def _subjects(smtp: SmtpDouble, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.to(address)]


def test_reminders_go_out_once_on_time_follow_moves_and_stop_for_cancelled_or_blocked(setup):
    app, smtp, services = setup
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    admin = users.create_user(None, email="admin@tests.school", name="Admin", role="admin")
    ana, ben, cyd, dan = (
        users.create_user(None, email=f"{n}@tests.school", name=n.title(), role="student")
        for n in ("ana", "ben", "cyd", "dan")
    )
    db.session.commit()

    _, physics = _class(teacher, "Physics", 12, [ana, dan])
    _, history = _class(teacher, "History", 10, [ben])
    _, music = _class(teacher, "Music", 10, [cyd])
    _class(teacher, "Later", 3600, [ana])  # due in an hour: must not go out
    blocking.block_user(admin, user_id=dan.id, scope="site", reason="abuse")
    new_start = utcnow() + timedelta(seconds=60 + 25)
    classes.reschedule_occurrence(teacher, history.id, new_start)
    classes.cancel_occurrence(teacher, music.id)
    db.session.commit()
    reminder_due = {
        (r.user_id, r.schedule_id): r.due_at
        for r in db.session.execute(
            db.select(Notification).where(
                Notification.kind == "reminder", Notification.status == "pending"
            )
        ).scalars()
    }

    services.worker(concurrency=2)
    services.beat()

    def all_arrived():
        return (
            len(smtp.to(ana.email)) >= 1
            and len(smtp.to(ben.email)) >= 2
            and len(smtp.to(cyd.email)) >= 1
        )

    _wait(all_arrived, 150, "the reminders and notices", services)
    _wait_for_scans(services, 4, "four more scans, which may send nothing twice")

    [ana_mail] = smtp.to(ana.email)
    assert str(ana_mail.message["Subject"]).startswith("Reminder: Physics starts")
    assert ana_mail.at >= reminder_due[ana.id, physics.id].timestamp()  # not before its minute
    assert sorted(s.split(":")[0] for s in _subjects(smtp, ben.email)) == ["Moved", "Reminder"]
    [ben_reminder] = [
        r for r in smtp.to(ben.email) if str(r.message["Subject"]).startswith("Reminder")
    ]
    assert (
        ben_reminder.at >= (new_start - timedelta(minutes=1)).timestamp()
    )  # the new time, not the old
    [cyd_subject] = _subjects(smtp, cyd.email)
    assert cyd_subject.startswith("Cancelled: Music")
    assert smtp.to(dan.email) == []
    db.session.expire_all()
    statuses = Counter(
        (r.kind, r.status) for r in db.session.execute(db.select(Notification)).scalars()
    )
    assert statuses == Counter(
        {
            ("reminder", "sent"): 2,
            ("reminder", "pending"): 1,
            ("reminder", "cancelled"): 2,
            ("class_moved", "sent"): 1,
            ("class_cancelled", "sent"): 1,
            ("class_invitation", "cancelled"): 5,
        }
    )


def test_a_worker_killed_mid_batch_loses_nothing_queued_and_sends_nothing_twice(setup):
    app, smtp, services = setup
    smtp.delay = 0.2  # a slow provider, so the kill lands mid-batch
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    students = [
        users.create_user(None, email=f"s{i}@tests.school", name=f"S{i}", role="student")
        for i in range(60)
    ]
    db.session.commit()
    _class(teacher, "Crowded", -1, students)  # due already

    window = 3  # rows marked 'sending' together: what a killed pool process may leave
    services.env["PORTAL_NOTIFY_SEND_WINDOW"] = str(window)
    worker = services.worker(concurrency=4)
    services.beat()
    _wait(lambda: len(smtp.received) >= 8, 120, "the first messages", services)
    services.kill(worker)  # SIGKILL the worker and its pool processes
    at_kill = len(smtp.received)
    assert at_kill < len(students), "the batch finished before the kill; nothing was tested"

    services.worker(concurrency=4)

    def settled():
        db.session.expire_all()
        return not db.session.execute(
            db.select(Notification.id).where(
                Notification.status.in_(("pending", "claimed", "sending"))
            )
        ).first()

    _wait(settled, 150, "every row to settle", services)
    _wait_for_scans(services, 2, "two more scans, which may send nothing twice")
    counts = Counter(address for r in smtp.received for address in r.rcpt_tos)
    assert max(counts.values()) == 1, f"sent twice: {[a for a, n in counts.items() if n > 1]}"
    rows = list(db.session.execute(db.select(Notification).filter_by(kind="reminder")).scalars())
    emails = {s.id: s.email for s in students}
    sent = [r for r in rows if r.status == "sent"]
    unknown = [r for r in rows if r.status == "failed"]
    assert all(counts[emails[r.user_id]] == 1 for r in sent)
    # Only the messages of a send window inside the provider call at the kill can end in
    # the "unknown" state (at most one window per pool process); they are flagged, never
    # resent. Everything else went out.
    assert len(unknown) <= 4 * window
    assert all(r.error == notifications.UNKNOWN_STATE_ERROR for r in unknown)
    assert len(sent) + len(unknown) == len(students)


def test_a_temporary_smtp_refusal_is_retried_by_the_celery_task(setup):
    app, smtp, services = setup
    smtp.replies = ["451 4.7.1 Greylisted, try again"]
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    eve = users.create_user(None, email="eve@tests.school", name="Eve", role="student")
    db.session.commit()
    _class(teacher, "Greylisted", -1, [eve])
    services.worker(concurrency=2)
    services.beat()
    _wait(lambda: smtp.to(eve.email), 150, "the retried message", services)
    _wait_for_scans(services, 3, "three more scans, which may not send it again")
    assert len(smtp.to(eve.email)) == 1 and smtp.replies == []
    db.session.expire_all()
    row = db.session.execute(db.select(Notification).filter_by(kind="reminder")).scalar_one()
    assert (row.status, row.attempts, row.error) == ("sent", 2, None)


def test_reminders_due_during_a_redis_outage_go_out_when_it_returns_once_each(
    database_url, tmp_path
):
    """Redis (broker of the worker and beat) dies and comes back empty: reminders that fell
    due meanwhile go out after it returns; none is lost, none is sent twice."""
    if not ThrowawayRedis.available():
        missing_service("redis-server")
    redis_server = ThrowawayRedis(tmp_path)
    redis_url = redis_server.start()
    try:
        with running_portal(database_url, redis_url, tmp_path) as (app, smtp, services):
            smtp.delay = 0.3  # a slow provider: the outage lands with sends queued in Redis
            teacher = users.create_user(
                None, email="teacher@tests.school", name="Teacher", role="teacher"
            )
            before = [
                users.create_user(
                    None, email=f"before{i}@tests.school", name=f"B{i}", role="student"
                )
                for i in range(24)
            ]
            during = [
                users.create_user(
                    None, email=f"during{i}@tests.school", name=f"D{i}", role="student"
                )
                for i in range(8)
            ]
            db.session.commit()
            _class(teacher, "Before the outage", -1, before)
            services.worker(concurrency=2)
            services.beat()
            _wait(lambda: len(smtp.received) >= 4, 150, "the first reminders", services)
            redis_server.kill()
            assert len(smtp.received) < len(before), (
                "all sent before the outage; nothing was tested"
            )
            _class(teacher, "During the outage", -1, during)  # due at once, while Redis is down
            # Six scan ticks that cannot reach the broker: beat tries to send them.
            sent = services.scans_sent()
            _wait(lambda: services.scans_sent() >= sent + 6, 90, "six scan ticks", services)
            assert not any(smtp.to(s.email) for s in during), "sent without a broker?"
            db.session.expire_all()
            waiting = db.session.execute(
                db.select(Notification).filter_by(kind="reminder")
            ).scalars()
            assert {r.status for r in waiting if r.user_id in {s.id for s in during}} <= {
                "pending",
                "claimed",
            }

            redis_server.start()  # same port, no data: the queued send tasks are gone
            _wait(
                lambda: all(smtp.to(s.email) for s in before + during),
                150,
                "every reminder",
                services,
            )
            # More scans (and lease expiries): still nothing twice.
            _wait_for_scans(services, 4, "four more scans, which may send nothing twice")

            counts = Counter(address for r in smtp.received for address in r.rcpt_tos)
            assert counts == Counter({s.email: 1 for s in before + during})
            db.session.expire_all()
            statuses = Counter(
                r.status
                for r in db.session.execute(
                    db.select(Notification).filter_by(kind="reminder")
                ).scalars()
            )
            assert statuses == Counter({"sent": len(before) + len(during)})
    finally:
        redis_server.kill()


def _students(how_many: int, prefix: str):
    made = [
        users.create_user(
            None, email=f"{prefix}{i}@tests.school", name=f"{prefix}{i}", role="student"
        )
        for i in range(how_many)
    ]
    db.session.commit()
    return made


def _settled() -> bool:
    db.session.expire_all()
    return not db.session.execute(
        db.select(Notification.id).where(
            Notification.kind == "reminder",
            Notification.status.in_(("pending", "claimed", "sending")),
        )
    ).first()


def _reminder_rows() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.execute(db.select(Notification).filter_by(kind="reminder")).scalars())


def test_a_due_batch_goes_out_exactly_once_with_two_workers_and_a_third_claimer_racing(setup):
    """Two worker processes (two pool processes each) scan and deliver while this process
    claims and enqueues batches too: every reminder reaches the SMTP server exactly once."""
    app, smtp, services = setup
    app.config["NOTIFY_BATCH_SIZE"] = 20  # many small claims, so the claimers interleave
    services.env["PORTAL_NOTIFY_BATCH_SIZE"] = "20"
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    students = _students(160, "race")
    _class(teacher, "Racing", -1, students)  # due already

    services.worker(concurrency=2)
    services.worker(concurrency=2)
    services.beat()
    claimed_here = 0
    deadline = time.monotonic() + 150
    while not _settled() and time.monotonic() < deadline:
        claimed_here += notifications.dispatch_due()  # enqueues to the workers' queue
        time.sleep(0.05)
    _wait(_settled, 60, "every row to settle", services)
    _wait_for_scans(services, 2, "two more scans, which may send nothing again")

    counts = Counter(address for r in smtp.received for address in r.rcpt_tos)
    assert counts == Counter({s.email: 1 for s in students})
    assert Counter(r.status for r in _reminder_rows()) == Counter({"sent": len(students)})


def test_an_smtp_connection_dropped_mid_batch_retries_only_the_unsent_ones(setup):
    """The server closes the connection after 15 messages and refuses the reconnection too:
    the batch's messages already accepted stay sent; the batch's rest is retried later, and
    no one gets a reminder twice."""
    app, smtp, services = setup
    smtp.refuse_after, smtp.refusals = 15, 2  # the MAIL in the batch and the reconnection's
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    students = _students(40, "drop")
    _class(teacher, "Dropped", -1, students)

    services.worker(concurrency=1)  # one process: the batches go out one after the other
    services.beat()
    _wait(_settled, 150, "every row to settle", services)
    _wait_for_scans(services, 2, "two more scans, which may send nothing again")

    assert smtp.refusals == 0, "the server never refused: nothing was tested"
    counts = Counter(address for r in smtp.received for address in r.rcpt_tos)
    assert counts == Counter({s.email: 1 for s in students})
    rows = _reminder_rows()
    assert Counter(r.status for r in rows) == Counter({"sent": len(students)})
    first_fifteen = {a for r in smtp.received[:15] for a in r.rcpt_tos}
    emails = {s.id: s.email for s in students}
    retried = [r for r in rows if r.attempts > 1]
    # Retried: only messages the server never accepted, the rest of the broken batch.
    assert retried and all(emails[r.user_id] not in first_fifteen for r in retried)
    assert all(r.attempts == 2 for r in retried)
    assert len(retried) < len(students) - 15


def test_the_due_row_scan_runs_on_its_own_queue_apart_from_deliveries(setup, redis_url):
    """A worker that consumes only `portal.scan` claims the due rows and sends nothing; a
    worker on `portal.deliver` then sends them, once each."""
    import redis

    app, smtp, services = setup
    client = redis.Redis.from_url(redis_url)
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    students = _students(20, "queue")
    _class(teacher, "Queues", -1, students)

    services.beat()
    _wait(lambda: client.llen("portal.scan") >= 1, 60, "a scan on portal.scan", services)
    queued = [m for m in client.lrange("celery", 0, -1) if b"notifications-dispatch" in m]
    assert queued == [], "the scan went to the default queue"

    services.start(
        "worker", "-Q", "portal.scan", "--concurrency", "1", "--without-mingle", "--without-gossip"
    )

    def all_claimed():
        return {r.status for r in _reminder_rows()} == {"claimed"}

    _wait(all_claimed, 150, "the scan-only worker to claim the rows", services)
    _wait(lambda: client.llen("portal.deliver") >= 1, 30, "deliveries queued", services)
    assert smtp.received == []  # the scan worker does not deliver

    services.start(
        "worker",
        "-Q",
        "portal.deliver",
        "--concurrency",
        "1",
        "--without-mingle",
        "--without-gossip",
        "--hostname",
        f"deliver-{os.getpid()}@%h",
    )
    _wait(_settled, 150, "the delivery worker to send them", services)
    counts = Counter(address for r in smtp.received for address in r.rcpt_tos)
    assert counts == Counter({s.email: 1 for s in students})
