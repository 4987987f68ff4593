"""How long do 10,000 due reminders take from their due time until all of them were handed
to the provider (a real SMTP server on 127.0.0.1)?

    .venv/bin/python -m bench.reminders [--count 10000] [--workers 4] [--modes inprocess,celery]

Database: PORTAL_BENCH_DATABASE_URL or PORTAL_TEST_DATABASE_URL (a scratch database is
created there and dropped), else a SQLite file. The Celery mode needs PORTAL_BENCH_REDIS_URL
or PORTAL_TEST_REDIS_URL (the bench deletes only Celery's own keys in that database).
Prints a table; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins" / "notify_email" / "tests"))
sys.path.insert(0, str(ROOT / "tests"))  # smtp_double uses portal_testing

import sqlalchemy as sa  # noqa: E402
from smtp_double import SmtpDouble  # noqa: E402

SECRET = "bench-secret-key-0123456789-abcdefghijklmnopq"


def scratch_database(tmp: Path) -> tuple[str, callable]:
    admin = (
        os.environ.get("PORTAL_BENCH_DATABASE_URL")
        or os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("PORTAL_TEST_DATABASE_URL")
    )
    if not admin:
        return f"sqlite:///{tmp / 'bench.sqlite3'}", lambda: None
    name = f"portal_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        engine.dispose()

    return url, drop


def make_app(url: str, tmp: Path, smtp_port: int, redis_url: str | None):
    from portal import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "STORAGE_DIR": str(tmp / "files"),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp_port,
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "Bench <bench@school.example>",
            "NOTIFY_SCAN_SECONDS": 1,
            "REDIS_URL": redis_url,
            "NOTIFY_BATCH_SIZE": 500,
            "LOG_JSON": True,
        }
    )


def seed(app, count: int) -> int:
    """`count` students in one class whose 1-minute reminder is parked far in the future."""
    from flask_migrate import upgrade

    from portal.core import classes, notifications
    from portal.core.models import Enrolment, Notification, User
    from portal.core.types import utcnow
    from portal.extensions import db

    with app.app_context():
        upgrade()
        existing = set(sa.inspect(db.engine).get_table_names())  # plugins' may be missing
        for table in reversed(db.metadata.sorted_tables):
            if table.name in existing:
                db.session.execute(table.delete())
        teacher = User(email="teacher@bench.example", name="Teacher", role="teacher")
        db.session.add(teacher)
        db.session.flush()
        klass = classes.create_class(
            teacher,
            classes.ClassInput(
                title="Bench",
                starts_at=utcnow() + timedelta(days=1),
                duration_minutes=60,
                timezone="UTC",
                reminder_offsets=[1],
            ),
        )
        db.session.execute(
            sa.insert(User),
            [
                {"email": f"s{i}@bench.example", "name": f"Student {i}", "role": "student"}
                for i in range(count)
            ],
        )
        ids = db.session.execute(sa.select(User.id).where(User.role == "student")).scalars().all()
        db.session.execute(
            sa.insert(Enrolment), [{"class_id": klass.id, "user_id": uid} for uid in ids]
        )
        schedule = classes.list_schedules(teacher, klass.id)[0]
        notifications.sync_schedule(schedule)
        db.session.commit()
        total = db.session.execute(sa.select(sa.func.count(Notification.id))).scalar_one()
        db.session.remove()
        return total


def make_due(app) -> float:
    """Every reminder becomes due now; returns that instant (epoch seconds)."""
    from portal.core.models import Notification, Schedule
    from portal.core.types import utcnow
    from portal.extensions import db

    with app.app_context():
        now = utcnow()
        # The class stays a day ahead, so no reminder becomes "too late" however slow the run.
        db.session.execute(
            sa.update(Schedule).values(
                starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1)
            )
        )
        db.session.execute(sa.update(Notification).values(due_at=now))
        db.session.commit()
        db.session.remove()
    return now.timestamp()


def wait_for(smtp: SmtpDouble, count: int, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with smtp.lock:
            if len(smtp.received) >= count:
                return max(r.at for r in smtp.received)
        time.sleep(0.05)
    return None


def run_inprocess(url: str, tmp: Path, count: int) -> dict:
    from portal import tasks

    smtp = SmtpDouble().start()
    app = make_app(url, tmp, smtp.port, None)
    seeded = seed(app, count)
    scheduler = tasks.InProcessScheduler(app)
    due = make_due(app)
    scheduler.start()
    try:
        last = wait_for(smtp, seeded, timeout=3600)
    finally:
        scheduler.stop()
        scheduler.join(timeout=30)
        smtp.stop()
    return summarise("in-process scheduler", url, 1, seeded, smtp, due, last)


def _clean_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(count=1000):
        if key.startswith((b"celery", b"_kombu", b"unacked", b"portal:notify:")):
            client.delete(key)


def run_celery(url: str, tmp: Path, count: int, workers: int, redis_url: str) -> dict:
    smtp = SmtpDouble().start()
    _clean_redis(redis_url)
    app = make_app(url, tmp, smtp.port, redis_url)
    seeded = seed(app, count)
    env = dict(
        os.environ,
        PORTAL_DATABASE_URL=url,
        PORTAL_SECRET_KEY=SECRET,
        PORTAL_REDIS_URL=redis_url,
        PORTAL_SMTP_HOST="127.0.0.1",
        PORTAL_SMTP_PORT=str(smtp.port),
        PORTAL_SMTP_SECURITY="none",
        PORTAL_MAIL_FROM="Bench <bench@school.example>",
        PORTAL_NOTIFY_SCAN_SECONDS="1",
        PORTAL_INSTANCE_PATH=str(tmp / "instance"),
        PORTAL_LOG_JSON="false",
    )
    portal = str(Path(sys.executable).parent / "portal")
    logs = [open(tmp / name, "wb") for name in ("worker.log", "beat.log")]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [
                portal,
                "worker",
                "--concurrency",
                str(workers),
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [portal, "beat", "--schedule", str(tmp / "beat-schedule")],
            env=env,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    try:
        _wait_ready(redis_url)
        cpu_before = _worker_cpu(procs)
        due = make_due(app)
        last = wait_for(smtp, seeded, timeout=3600)
        cpu_used = _worker_cpu(procs) - cpu_before
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs:
            log.close()
        smtp.stop()
        _clean_redis(redis_url)
    row = summarise(f"celery worker x{workers} + beat", url, workers, seeded, smtp, due, last)
    row["worker CPU s / 1,000"] = f"{cpu_used * 1000 / max(seeded, 1):.2f}"
    return row


def _worker_cpu(procs: list[subprocess.Popen]) -> float:
    """CPU seconds (utime + stime, from /proc) of the worker and beat processes and their
    pool processes: every process in their sessions (each was started in its own)."""
    from bench.rush import cpu_seconds

    sessions = {proc.pid for proc in procs}
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sessions:  # field 6 of proc(5): the session id
            pids.append(int(stat.parent.name))
    return cpu_seconds(pids)


def _wait_ready(redis_url: str, timeout: float = 180) -> None:
    """Until a worker answers a ping (it started and consumes the queue)."""
    from celery import Celery

    probe = Celery(broker=redis_url, backend=redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe.control.ping(timeout=1.0):
            time.sleep(2)  # and beat has had a tick
            return
    raise SystemExit("the Celery worker did not start; see its log")


def summarise(mode, url, workers, seeded, smtp, due, last) -> dict:
    received = len(smtp.received)
    first = min((r.at for r in smtp.received), default=None)
    total = (last - due) if last else None
    return {
        "mode": mode,
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "processes": workers,
        "reminders": seeded,
        "delivered": received,
        "first (s)": f"{first - due:.2f}" if first else "-",
        "all (s)": f"{total:.2f}" if total else "timeout",
        "per second": f"{received / total:.0f}" if total else "-",
        # One reminder per student: a recipient seen twice is a reminder sent twice.
        "sent twice": received - len({tuple(r.rcpt_tos) for r in smtp.received}),
    }


def print_table(rows: list[dict]) -> None:
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))


def run() -> list:
    """`python -m bench reminders`: the Celery figure on PostgreSQL (bench/common settings)."""
    from bench.common import ADMIN_URL, REDIS_URL, Result

    os.environ.setdefault("PORTAL_BENCH_DATABASE_URL", ADMIN_URL)
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ.setdefault("PORTAL_INSTANCE_PATH", str(tmp / "instance"))
        url, drop = scratch_database(tmp)
        try:
            row = run_celery(url, tmp, 10_000, 4, REDIS_URL)
        finally:
            drop()
    name = "reminders (10,000 due, 4 Celery processes, SMTP server)"
    results.append(Result(name, "due -> first handed to SMTP", row["first (s)"], "s"))
    all_seconds = float(row["all (s)"]) if row["all (s)"] != "timeout" else float("inf")
    results.append(
        Result(
            name,
            "due -> all handed to SMTP",
            row["all (s)"],
            "s",
            "< 60 s",
            all_seconds < 60 and row["delivered"] == row["reminders"],
            f"{row['delivered']} of {row['reminders']} delivered",
        )
    )
    results.append(
        Result(name, "reminders sent twice", row["sent twice"], "", "0", row["sent twice"] == 0)
    )
    load = f"load average {os.getloadavg()[0]:.1f} at the end (other work on the machine)"
    results.append(Result(name, "throughput", row["per second"], "messages/s", note=load))
    results.append(Result(name, "worker CPU per 1,000 reminders", row["worker CPU s / 1,000"], "s"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--modes", default="inprocess,celery")
    args = parser.parse_args()
    redis_url = (
        os.environ.get("PORTAL_BENCH_REDIS_URL")
        or os.environ.get("BENCH_REDIS_URL")
        or os.environ.get("PORTAL_TEST_REDIS_URL")
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ.setdefault("PORTAL_INSTANCE_PATH", str(tmp / "instance"))
        for mode in args.modes.split(","):
            (tmp / mode).mkdir(exist_ok=True)
            url, drop = scratch_database(tmp / mode)
            try:
                if mode == "inprocess":
                    rows.append(run_inprocess(url, tmp / mode, args.count))
                elif mode == "celery":
                    if not redis_url:
                        print("celery mode skipped: set PORTAL_BENCH_REDIS_URL", file=sys.stderr)
                        continue
                    rows.append(run_celery(url, tmp / mode, args.count, args.workers, redis_url))
            finally:
                drop()
    print(
        f"\nDue reminders -> handed to the SMTP server ({args.count} reminders, scan every 1 s;"
        f" load average {os.getloadavg()[0]:.1f})\n"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
