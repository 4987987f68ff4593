"""Chat fan-out benchmark: one class occurrence, N connected students (default 200).

Starts the portal's Socket.IO server (threading mode, as `portal serve`) in a subprocess on
an ephemeral port with a fresh SQLite database (or PORTAL_BENCH_DATABASE_URL), spreads the
receiving clients over a few worker processes, and prints:

* delivery latency p50/p99 (send -> receipt at every client) for paced messages;
* sustained messages/second (and deliveries/second) for a burst sent as fast as the
  teacher's socket allows, until every client has every message.

Run: `python -m bench.chat [--clients 200] [--redis redis://127.0.0.1:6379/2]`.
Numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = ROOT / "tests" / "live_server.py"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
ORIGIN = "http://127.0.0.1:5000"


def _seed(database_url: str, students: int) -> tuple[int, list[str], str]:
    """Create a teacher, a class with one occurrence and `students` enrolled; return tokens."""
    from flask_jwt_extended import create_access_token
    from flask_migrate import upgrade

    from portal import create_app
    from portal.core import classes
    from portal.core.models import Enrolment, User
    from portal.core.types import utcnow
    from portal.extensions import db

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET})
    with app.app_context():
        upgrade()
        teacher = User(email="teacher@bench.test", name="Teacher", role="teacher")
        db.session.add(teacher)
        db.session.flush()
        klass = classes.create_class(
            teacher, classes.ClassInput(title="Bench", starts_at=utcnow(), duration_minutes=60)
        )
        people = [
            User(email=f"s{n}@bench.test", name=f"Student {n}", role="student")
            for n in range(students)
        ]
        db.session.add_all(people)
        db.session.flush()
        db.session.add_all([Enrolment(class_id=klass.id, user_id=p.id) for p in people])
        db.session.commit()
        schedule_id = classes.list_schedules(teacher, klass.id)[0].id
        tokens = [create_access_token(identity=str(p.id)) for p in people]
        teacher_token = create_access_token(identity=str(teacher.id))
        db.engine.dispose()
    return schedule_id, tokens, teacher_token


def _start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=open(log, "w"),  # noqa: SIM115
        env=env,
        text=True,
    )  # noqa: SIM115
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1)[0]:
            line = proc.stdout.readline()
            if line.startswith("PORT "):
                return proc, f"http://127.0.0.1:{int(line.split()[1])}"
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


def _receiver(
    url: str,
    tokens: list[str],
    schedule_id: int,
    expected: int,
    ready,
    go,
    out,
    origin: str = ORIGIN,
) -> None:
    """Worker process: connect its clients, then record when each message reaches each."""
    import threading

    import socketio

    arrivals: list[tuple[str, float]] = []
    lock = threading.Lock()
    done = threading.Event()
    clients = []

    def handler(message):
        now = time.time()
        with lock:
            arrivals.append((message["body"], now))
            if len(arrivals) >= expected * len(tokens):
                done.set()

    for token in tokens:
        client = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
        client.on("chat:message", handler)
        client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
        answer = client.call("join", {"schedule_id": schedule_id, "limit": 1}, timeout=30)
        if not answer.get("ok"):
            raise SystemExit(f"join failed: {answer}")
        clients.append(client)
    ready.put(len(clients))
    go.wait()
    done.wait(timeout=300)
    out.put(arrivals)
    for client in clients:
        threading.Thread(target=client.disconnect, daemon=True).start()
    time.sleep(0.5)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(
    clients: int,
    paced: int,
    burst: int,
    workers: int,
    redis_url: str | None,
    database_url: str | None = None,
    gunicorn_workers: int = 0,
    interval: float = 0.05,
) -> list[tuple[str, str]]:
    """gunicorn_workers > 0: serve with gunicorn gthread workers (WebSocket transport only, so no
    sticky sessions are needed; each open socket holds one worker thread), else the threading
    server of `portal serve`."""
    import contextlib

    import socketio

    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-chat-"))
    database_url = (
        database_url
        or os.environ.get("PORTAL_BENCH_DATABASE_URL")
        or f"sqlite:///{tmp / 'bench.sqlite3'}"
    )
    schedule_id, tokens, teacher_token = _seed(database_url, clients)
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_INSTANCE_PATH": str(tmp / "instance"),
        "PORTAL_CHAT_RATE_LIMIT": "1000000 per second",
        "PORTAL_SOCKETIO_CHANNEL": f"portal-bench-{uuid.uuid4().hex[:8]}",
    }
    env.pop("PORTAL_REDIS_URL", None)
    if redis_url:
        env["PORTAL_REDIS_URL"] = redis_url
    stack = contextlib.ExitStack()
    origin = ORIGIN
    if gunicorn_workers:
        from bench.common import Gunicorn

        # Every socket holds a thread for its lifetime, and gunicorn does not balance sockets
        # evenly across workers: each worker gets room for all clients plus some HTTP.
        threads = clients + 16
        gunicorn = stack.enter_context(
            Gunicorn(
                database_url,
                workers=gunicorn_workers,
                threads=threads,
                **{
                    k: env[k]
                    for k in (
                        "PORTAL_SECRET_KEY",
                        "PORTAL_CHAT_RATE_LIMIT",
                        "PORTAL_SOCKETIO_CHANNEL",
                        "PORTAL_REDIS_URL",
                    )
                    if k in env
                },
            )
        )
        url = origin = gunicorn.base
        server = None
    else:
        server, url = _start_server(env, tmp / "server.log")
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    total = paced + burst
    chunks = [tokens[i::workers] for i in range(workers)]
    procs = [
        ctx.Process(target=_receiver, args=(url, chunk, schedule_id, total, ready, go, out, origin))
        for chunk in chunks
        if chunk
    ]
    try:
        for proc in procs:
            proc.start()
        connected = sum(ready.get(timeout=300) for _ in procs)
        sender = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
        sender.connect(
            url, auth={"token": teacher_token}, transports=["websocket"], wait_timeout=30
        )
        assert sender.call("join", {"schedule_id": schedule_id, "limit": 1}, timeout=30)["ok"]
        go.set()
        sent_at: dict[str, float] = {}
        for n in range(
            paced
        ):  # paced: one message every `interval` seconds (20 per second by default)
            body = f"paced {n}"
            sent_at[body] = time.time()
            sender.emit("chat:send", {"schedule_id": schedule_id, "body": body})
            time.sleep(interval)
        time.sleep(1.0)
        burst_start = time.time()
        for n in range(burst):  # burst: as fast as the socket takes them
            body = f"burst {n}"
            sent_at[body] = time.time()
            sender.emit("chat:send", {"schedule_id": schedule_id, "body": body})
        arrivals = [a for _ in procs for a in out.get(timeout=600)]
        sender.disconnect()
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        if server is not None:
            server.terminate()
            server.wait(10)
        stack.close()

    paced_latency = [(t - sent_at[b]) * 1000 for b, t in arrivals if b.startswith("paced")]
    burst_arrivals = [t for b, t in arrivals if b.startswith("burst")]
    burst_latency = [(t - sent_at[b]) * 1000 for b, t in arrivals if b.startswith("burst")]
    expected = connected * total
    elapsed = (max(burst_arrivals) - burst_start) if burst_arrivals else float("nan")
    return [
        (
            "mode",
            (
                f"gunicorn {gunicorn_workers} gthread workers, WebSocket transport"
                if gunicorn_workers
                else "single process, threading"
            )
            + (", Redis message queue" if redis_url else ""),
        ),
        ("connected clients", str(connected)),
        ("deliveries received / expected", f"{len(arrivals)} / {expected}"),
        (
            "paced latency p50 (ms)",
            f"{statistics.median(paced_latency):.1f}" if paced_latency else "n/a",
        ),
        ("paced latency p99 (ms)", f"{_percentile(paced_latency, 0.99):.1f}"),
        (
            "burst latency p50 (ms)",
            f"{statistics.median(burst_latency):.1f}" if burst_latency else "n/a",
        ),
        ("burst latency p99 (ms)", f"{_percentile(burst_latency, 0.99):.1f}"),
        ("burst messages/second", f"{burst / elapsed:.1f}"),
        ("burst deliveries/second", f"{len(burst_arrivals) / elapsed:.0f}"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--paced", type=int, default=50, help="messages sent one every 50 ms")
    parser.add_argument("--burst", type=int, default=100, help="messages sent back to back")
    parser.add_argument("--workers", type=int, default=4, help="receiver processes")
    parser.add_argument(
        "--redis",
        default=os.environ.get("PORTAL_BENCH_REDIS_URL"),
        help="also route through a Redis message queue (redis://host:port/db)",
    )
    parser.add_argument(
        "--gunicorn",
        type=int,
        default=0,
        metavar="WORKERS",
        help="serve with gunicorn gthread workers (needs --redis when > 1)",
    )
    args = parser.parse_args(argv)
    rows = measure(
        args.clients,
        args.paced,
        args.burst,
        args.workers,
        args.redis,
        gunicorn_workers=args.gunicorn,
    )
    width = max(len(k) for k, _ in rows)
    print(f"{'chat fan-out':<{width}}  value")
    print(f"{'-' * width}  {'-' * 24}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def run() -> list:
    """`python -m bench` adapter: 200 clients, PostgreSQL, Redis message queue, gunicorn workers."""
    from bench.common import REDIS_URL, Result, fresh_database

    scenario = "chat fan-out (200 clients)"
    with fresh_database("bench_chat") as database_url:
        # A lively class chat: 4 messages a second (800 deliveries/s), then a burst of 100.
        rows = dict(
            measure(
                200,
                40,
                100,
                4,
                REDIS_URL,
                database_url=database_url,
                gunicorn_workers=2,
                interval=0.25,
            )
        )
    p99 = float(rows["paced latency p99 (ms)"])
    got, expected = rows["deliveries received / expected"].split(" / ")
    return [
        Result(
            scenario,
            "deliveries received / expected",
            rows["deliveries received / expected"],
            "",
            "all",
            got == expected,
            rows["mode"],
        ),
        Result(
            scenario, "delivery latency p50 (4 messages/s)", rows["paced latency p50 (ms)"], "ms"
        ),
        Result(
            scenario,
            "delivery latency p99 (4 messages/s)",
            round(p99, 1),
            "ms",
            "< 100 ms",
            p99 < 100,
        ),
        Result(
            scenario,
            "burst latency p50 / p99",
            f"{rows['burst latency p50 (ms)']} / {rows['burst latency p99 (ms)']}",
            "ms",
            note="100 messages sent back to back",
        ),
        Result(scenario, "burst deliveries/second", rows["burst deliveries/second"], "/s"),
    ]


if __name__ == "__main__":
    main()
