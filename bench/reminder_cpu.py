"""CPU per reminder, in one process: N due reminders claimed, composed and handed to a real
SMTP server (aiosmtpd, in its own process so its CPU is not counted) by the same
`dispatch_due` a worker runs, inline (no broker).

Per reminder it reports:

- CPU ms (`time.process_time` of this, the delivering, process: claim, checks, composition,
  MIME building and serialisation, SMTP client, status writes);
- SQL statements (a `before_cursor_execute` listener on the engine);
- the share of CPU spent in Python's `email` package (from the cProfile run).

`--profile` prints the cProfile top list (timed by CPU, sorted by own time). The Celery
overhead per task is not in this figure: `bench.reminders` measures the whole worker.

Run alone: `python -m bench.reminder_cpu [--count 2000] [--profile]`; the database is
PORTAL_BENCH_DATABASE_URL / PORTAL_TEST_DATABASE_URL (a scratch database), else SQLite.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result

SCENARIO = "reminders in process (dispatch_due inline, aiosmtpd in another process)"


def _serve_smtp(port_out: Any, stop: Any, received_out: Any) -> None:
    """The SMTP server process: the test suite's aiosmtpd double, until `stop` is set."""
    from bench.reminders import SmtpDouble

    server = SmtpDouble().start()
    port_out.put(server.port)
    stop.wait()
    with server.lock:
        received_out.put([tuple(r.rcpt_tos) for r in server.received])
    server.stop()


def _top(profile: cProfile.Profile, limit: int) -> tuple[str, float]:
    """The top list by own CPU time, and the share of it in the `email` package."""
    stats = pstats.Stats(profile)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    in_email = sum(
        row[2]
        for (filename, _, _), row in stats.stats.items()  # type: ignore[attr-defined]
        if f"{os.sep}email{os.sep}" in filename
    )
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(limit)
    return out.getvalue(), (in_email / total if total else 0.0)


def measure(count: int, profile: bool = False, top: int = 25) -> dict[str, Any]:
    from sqlalchemy import event

    from bench.reminders import make_app, make_due, scratch_database, seed

    context = multiprocessing.get_context("spawn")
    port_q, received_q, stop = context.Queue(), context.Queue(), context.Event()
    server = context.Process(target=_serve_smtp, args=(port_q, stop, received_q), daemon=True)
    server.start()
    port = port_q.get(timeout=120)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # Only for this run: later scenarios of `python -m bench` must not inherit a path
        # into a directory removed below.
        instance_path = os.environ.get("PORTAL_INSTANCE_PATH")
        os.environ.setdefault("PORTAL_INSTANCE_PATH", str(tmp / "instance"))
        url, drop = scratch_database(tmp)
        try:
            app = make_app(url, tmp, port, None)
            seeded = seed(app, count)
            make_due(app)
            from portal.core import notifications
            from portal.extensions import db

            statements = 0

            def on_statement(*_args: Any) -> None:
                nonlocal statements
                statements += 1

            with app.app_context():
                engine = db.engine
                event.listen(engine, "before_cursor_execute", on_statement)
                profiler = cProfile.Profile(time.process_time) if profile else None
                started = time.process_time()
                if profiler:
                    profiler.enable()
                claimed = notifications.dispatch_due()
                if profiler:
                    profiler.disable()
                cpu = time.process_time() - started
                event.remove(engine, "before_cursor_execute", on_statement)
                db.session.remove()
            stop.set()
            recipients = received_q.get(timeout=120)
            server.join(timeout=30)
        finally:
            stop.set()
            drop()
            if instance_path is None:
                os.environ.pop("PORTAL_INSTANCE_PATH", None)
    result: dict[str, Any] = {
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "reminders": seeded,
        "claimed": claimed,
        "received": len(recipients),
        "sent twice": len(recipients) - len(set(recipients)),
        "cpu ms per reminder": cpu * 1000 / max(seeded, 1),
        "statements per reminder": statements / max(seeded, 1),
    }
    if profiler:
        result["profile"], result["email share"] = _top(profiler, top)
    return result


def run() -> list[Result]:
    """`python -m bench reminder_cpu`: 2,000 reminders on PostgreSQL (bench/common)."""
    from bench.common import ADMIN_URL

    os.environ.setdefault("PORTAL_BENCH_DATABASE_URL", ADMIN_URL)
    row = measure(2000)
    return [
        Result(
            SCENARIO,
            "CPU per reminder (delivering process)",
            f"{row['cpu ms per reminder']:.2f}",
            "ms",
            note=f"{row['received']} of {row['reminders']} received, {row['database']}",
        ),
        Result(SCENARIO, "SQL statements per reminder", f"{row['statements per reminder']:.3f}"),
        Result(
            SCENARIO, "reminders sent twice", row["sent twice"], "", "0", row["sent twice"] == 0
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="cProfile top list (CPU time)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    row = measure(args.count, profile=args.profile, top=args.top)
    profile_text = row.pop("profile", None)
    share = row.pop("email share", None)
    for key, value in row.items():
        print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
    if share is not None:
        print(f"{'email package share':>24}: {share:.0%} of profiled CPU")
    print(f"{'load average':>24}: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if profile_text:
        print(profile_text)


if __name__ == "__main__":
    main()
