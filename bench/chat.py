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
        klass = classes.create_class(teacher, classes.ClassInput(title="Bench", starts_at=utcnow(), duration_minutes=60))
        people = [User(email=f"s{n}@bench.test", name=f"Student {n}", role="student") for n in range(students)]
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
    proc = subprocess.Popen([sys.executable, str(SERVER_SCRIPT)], stdout=subprocess.PIPE,
                            stderr=open(log, "w"), env=env, text=True)  # noqa: SIM115
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1)[0]:
            line = proc.stdout.readline()
            if line.startswith("PORT "):
                return proc, f"http://127.0.0.1:{int(line.split()[1])}"
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


def _receiver(url: str, tokens: list[str], schedule_id: int, expected: int, ready, go, out) -> None:
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
        client = socketio.Client(reconnection=False, websocket_extra_options={"origin": ORIGIN})
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


def run(clients: int, paced: int, burst: int, workers: int, redis_url: str | None) -> list[tuple[str, str]]:
    import socketio

    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-chat-"))
    database_url = os.environ.get("PORTAL_BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    schedule_id, tokens, teacher_token = _seed(database_url, clients)
    env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_SECRET_KEY": SECRET,
           "PORTAL_INSTANCE_PATH": str(tmp / "instance"), "PORTAL_CHAT_RATE_LIMIT": "1000000 per second",
           "PORTAL_SOCKETIO_CHANNEL": f"portal-bench-{uuid.uuid4().hex[:8]}"}
    env.pop("PORTAL_REDIS_URL", None)
    if redis_url:
        env["PORTAL_REDIS_URL"] = redis_url
    server, url = _start_server(env, tmp / "server.log")
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    total = paced + burst
    chunks = [tokens[i::workers] for i in range(workers)]
    procs = [ctx.Process(target=_receiver, args=(url, chunk, schedule_id, total, ready, go, out)) for chunk in chunks if chunk]
    try:
        for proc in procs:
            proc.start()
        connected = sum(ready.get(timeout=300) for _ in procs)
        sender = socketio.Client(reconnection=False, websocket_extra_options={"origin": ORIGIN})
        sender.connect(url, auth={"token": teacher_token}, transports=["websocket"], wait_timeout=30)
        assert sender.call("join", {"schedule_id": schedule_id, "limit": 1}, timeout=30)["ok"]
        go.set()
        sent_at: dict[str, float] = {}
        for n in range(paced):  # paced: one message at a time, ~20 per second
            body = f"paced {n}"
            sent_at[body] = time.time()
            sender.emit("chat:send", {"schedule_id": schedule_id, "body": body})
            time.sleep(0.05)
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
        server.terminate()
        server.wait(10)

    paced_latency = [(t - sent_at[b]) * 1000 for b, t in arrivals if b.startswith("paced")]
    burst_arrivals = [t for b, t in arrivals if b.startswith("burst")]
    burst_latency = [(t - sent_at[b]) * 1000 for b, t in arrivals if b.startswith("burst")]
    expected = connected * total
    elapsed = (max(burst_arrivals) - burst_start) if burst_arrivals else float("nan")
    return [
        ("mode", "Redis message queue" if redis_url else "single process, threading"),
        ("connected clients", str(connected)),
        ("deliveries received / expected", f"{len(arrivals)} / {expected}"),
        ("paced latency p50 (ms)", f"{statistics.median(paced_latency):.1f}" if paced_latency else "n/a"),
        ("paced latency p99 (ms)", f"{_percentile(paced_latency, 0.99):.1f}"),
        ("burst latency p50 (ms)", f"{statistics.median(burst_latency):.1f}" if burst_latency else "n/a"),
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
    parser.add_argument("--redis", default=os.environ.get("PORTAL_BENCH_REDIS_URL"),
                        help="also route through a Redis message queue (redis://host:port/db)")
    args = parser.parse_args(argv)
    rows = run(args.clients, args.paced, args.burst, args.workers, args.redis)
    width = max(len(k) for k, _ in rows)
    print(f"{'chat fan-out':<{width}}  value")
    print(f"{'-' * width}  {'-' * 24}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
