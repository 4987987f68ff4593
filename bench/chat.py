"""Chat fan-out benchmark, the issue's scenario: one class occurrence with N students in its
chat room (default 200) while 49 other classes are connected (default 100 idle waiting pages
each, joined to their own rooms), all on one `portal realtime` process.

Processes: the realtime process (sockets only, as in production) on a fresh PostgreSQL
database and one Redis database (its rooms go through Redis pub/sub, as with several
realtime processes); the clients are python-socketio AsyncClients, many per asyncio loop, in
a few load processes; the teacher sends from this process over their own socket.

Prints, each measured: sockets held; delivery latency p50/p99 (send -> receipt at every
client of the class) for paced messages, then a burst; and the realtime process's CPU
(utime + stime from /proc) per connect, per room join, per delivered message and per chat
message sent, and its RSS per 1,000 idle sockets. CPU per message is the comparable
figure on a shared machine; wall latency under load is mostly the queue for a CPU.

Run: `python -m bench.chat [--clients 200] [--other-classes 49] [--idle-per-class 100]`.
Numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import statistics
import time

import socketio

from bench.common import (
    REDIS_URL,
    ROOT,
    SECRET_KEY,
    Result,
    fresh_database,
    percentile,
    portal_env,
    rss_mb,
)
from bench.rush import Realtime, cpu_seconds

CONNECTS_AT_ONCE = 40


def _seed_chat_class(database_url: str, students: int) -> tuple[int, list[str], str]:
    """A teacher, a class with one occurrence and `students` enrolled; their access tokens."""
    import sqlalchemy as sa
    from flask_jwt_extended import create_access_token

    from portal import create_app
    from portal.core import classes
    from portal.core.models import Enrolment, User
    from portal.core.types import utcnow
    from portal.extensions import db

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        teacher = User(email="teacher@chat.bench", name="Teacher", role="teacher")
        db.session.add(teacher)
        db.session.flush()
        klass = classes.create_class(
            teacher, classes.ClassInput(title="Chat", starts_at=utcnow(), duration_minutes=60)
        )
        db.session.execute(
            sa.insert(User),
            [
                {"email": f"s{n}@chat.bench", "name": f"Student {n}", "role": "student"}
                for n in range(students)
            ],
        )
        ids = list(
            db.session.execute(
                sa.select(User.id).where(User.email.like("%@chat.bench"), User.role == "student")
            ).scalars()
        )
        db.session.execute(
            sa.insert(Enrolment), [{"class_id": klass.id, "user_id": i} for i in ids]
        )
        db.session.commit()
        schedule_id = classes.list_schedules(teacher, klass.id)[0].id
        tokens = [create_access_token(identity=str(i)) for i in ids]
        teacher_token = create_access_token(identity=str(teacher.id))
        db.engine.dispose()
    return schedule_id, tokens, teacher_token


async def _clients(
    url: str,
    pages: list[tuple[str, int, bool]],
    phase: mp.Queue,
    steps: list,
    out: mp.Queue,
) -> None:
    """One load process: connect its pages, then join each to its room, then record when each
    chat message reaches the pages that listen (token, schedule id, listens)."""
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    connected: list[tuple[socketio.AsyncClient, int]] = []
    arrivals: list[tuple[str, float]] = []
    errors: list[str] = []
    dropped: list[str] = []
    closing = False
    last_event = [time.time()]
    presence_lists = [0]

    def heard(*_: object) -> None:
        last_event[0] = time.time()
        presence_lists[0] += 1

    async def connect(token: str, schedule_id: int, listens: bool) -> None:
        client = socketio.AsyncClient(reconnection=False)
        if listens:
            client.on("chat:message", lambda m: arrivals.append((m["body"], time.time())))

        async def on_disconnect(*reason: object) -> None:
            if not closing:
                dropped.append(str(reason[0]) if reason else "disconnected")

        client.on("disconnect", on_disconnect)
        client.on("presence", heard)
        async with gate:
            try:
                await client.connect(
                    url,
                    auth={"token": token},
                    headers={"Origin": url},
                    transports=["websocket"],
                    wait_timeout=120,
                )
            except Exception as exc:
                errors.append(f"connect: {exc!r}"[:200])
                return
        connected.append((client, schedule_id))

    async def join(client: socketio.AsyncClient, schedule_id: int) -> None:
        async with gate:
            try:
                answer = await client.call(
                    "join", {"schedule_id": schedule_id, "limit": 1}, timeout=120
                )
                if not answer.get("ok"):
                    errors.append(f"join refused: {answer.get('error')}"[:200])
            except Exception as exc:
                errors.append(f"join: {exc!r}"[:200])

    async def wait_for(step) -> None:
        while not step.is_set():
            await asyncio.sleep(0.05)

    await asyncio.gather(*(connect(*page) for page in pages))
    phase.put(("connected", len(connected)))
    await wait_for(steps[0])
    await asyncio.gather(*(join(c, s) for c, s in connected))
    # The joins' presence announcements (coalesced per room; one per join before: 20,000
    # lists in the chat class): the chat is measured once this process has read them all.
    quiet_by = time.time() + 600
    while time.time() - last_event[0] < 2.0 and time.time() < quiet_by:
        await asyncio.sleep(0.2)
    phase.put(("joined", len(connected)))
    await wait_for(steps[1])  # the chat is over (or timed out)
    await asyncio.sleep(0.5)
    held = sum(1 for c, _ in connected if c.connected)
    out.put(
        {
            "arrivals": arrivals,
            "errors": errors,
            "dropped": dropped,
            "held": held,
            "presence_lists": presence_lists[0],
        }
    )
    closing = True
    await asyncio.gather(*(c.disconnect() for c, _ in connected), return_exceptions=True)


def _load_process(url: str, pages, phase, steps, out) -> None:
    asyncio.run(_clients(url, pages, phase, steps, out))


def measure(
    clients: int = 200,
    other_classes: int = 49,
    idle_per_class: int = 100,
    paced: int = 40,
    burst: int = 100,
    interval: float = 0.25,
    load_processes: int = 2,
    redis_url: str = REDIS_URL,
) -> list[Result]:
    import redis

    from bench.storm import _seed

    redis.Redis.from_url(redis_url).flushdb()
    idle = other_classes * idle_per_class
    scenario = (
        f"chat fan-out ({clients} clients in one class, {other_classes} x {idle_per_class} "
        "idle sockets in other classes)"
    )
    log = ROOT / "instance" / "bench-chat-realtime.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with fresh_database("bench_chat") as database_url:
        schedule_id, tokens, teacher_token = _seed_chat_class(database_url, clients)
        others = _seed(database_url, other_classes, idle)["students"] if idle else []
        env = portal_env(
            database_url,
            PORTAL_REDIS_URL=redis_url,
            PORTAL_LOG_JSON="false",
            PORTAL_CHAT_RATE_LIMIT="1000000 per second",
        )
        with Realtime(env, log) as realtime:
            pid = realtime.process.pid
            pages = [(t, schedule_id, True) for t in tokens] + [(t, s, False) for t, s in others]
            ctx = mp.get_context("fork")
            phase, out = ctx.Queue(), ctx.Queue()
            steps = [ctx.Event(), ctx.Event()]
            procs = [
                ctx.Process(
                    target=_load_process,
                    args=(realtime.url, pages[i::load_processes], phase, steps, out),
                )
                for i in range(load_processes)
            ]
            rss_empty = rss_mb(pid)
            cpu0 = cpu_seconds([pid])
            began = time.time()
            for proc in procs:
                proc.start()
            deadline = max(900.0, len(pages) * 0.4)
            connected = sum(phase.get(timeout=deadline)[1] for _ in procs)
            connect_seconds = time.time() - began
            print(f"{connected} sockets connected in {connect_seconds:.1f} s", flush=True)
            cpu1 = cpu_seconds([pid])
            time.sleep(2.0)  # idle: what the held sockets cost while nothing happens
            rss_idle = rss_mb(pid)
            cpu_idle = cpu_seconds([pid]) - cpu1
            cpu1 = cpu_seconds([pid])
            steps[0].set()
            joins_began = time.time()
            for _ in procs:
                phase.get(timeout=deadline)
            cpu2 = cpu_seconds([pid])
            join_seconds = time.time() - joins_began
            # Each join announces the room's presence list to the room: let that settle (the
            # chat would otherwise queue behind it on every socket).
            settle_until = time.time() + 300
            while time.time() < settle_until and not _quiet(pid):
                pass
            time.sleep(2.0)

            sender = socketio.Client(
                reconnection=False, websocket_extra_options={"origin": realtime.url}
            )
            echoed = set()  # the teacher's own socket is in the room too
            last_burst = f"burst {burst - 1}"
            sender.on("chat:message", lambda m: echoed.add(m["body"]))
            sender.connect(
                realtime.url,
                auth={"token": teacher_token},
                transports=["websocket"],
                wait_timeout=60,
            )
            assert sender.call("join", {"schedule_id": schedule_id, "limit": 1}, timeout=60)["ok"]
            time.sleep(0.5)
            sent_at: dict[str, float] = {}
            cpu3 = cpu_seconds([pid])
            for n in range(paced):  # paced: one message every `interval` seconds
                body = f"paced {n}"
                sent_at[body] = time.time()
                sender.emit("chat:send", {"schedule_id": schedule_id, "body": body})
                time.sleep(interval)
            time.sleep(2.0)
            burst_start = time.time()
            for n in range(burst):  # burst: as fast as the socket takes them
                body = f"burst {n}"
                sent_at[body] = time.time()
                sender.emit("chat:send", {"schedule_id": schedule_id, "body": body})
            expected = (paced + burst) * clients
            # Sent on to everyone once the teacher's own copy of the last one is back and the
            # realtime process has gone quiet.
            wait_until = time.time() + 120 + burst
            while time.time() < wait_until and (burst and last_burst not in echoed):
                time.sleep(0.2)
            wait_until = time.time() + 30
            while time.time() < wait_until and not _quiet(pid):
                pass
            cpu5 = cpu_seconds([pid])
            steps[1].set()
            reports = [out.get(timeout=300) for _ in procs]
            sender.disconnect()
            for proc in procs:
                proc.join(30)
                if proc.is_alive():
                    proc.kill()

    arrivals = [a for rep in reports for a in rep["arrivals"]]
    errors = [e for rep in reports for e in rep["errors"]]
    dropped = [d for rep in reports for d in rep["dropped"]]
    held = sum(rep["held"] for rep in reports)
    presence_lists = sum(rep["presence_lists"] for rep in reports)
    paced_ms = [(t - sent_at[b]) * 1000 for b, t in arrivals if b.startswith("paced")]
    burst_ms = [(t - sent_at[b]) * 1000 for b, t in arrivals if b.startswith("burst")]
    burst_at = [t for b, t in arrivals if b.startswith("burst")]
    elapsed = (max(burst_at) - burst_start) if burst_at else float("nan")
    listeners = clients
    p99 = percentile(paced_ms, 99)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    # The whole chat (paced and burst, until the process went quiet) over what it delivered.
    per_delivery = (cpu5 - cpu3) * 1000 / len(arrivals) if arrivals else float("nan")
    per_message = (cpu5 - cpu3) * 1000 / (paced + burst) if paced + burst else float("nan")
    per_connect = (cpu1 - cpu0) * 1000 / connected if connected else float("nan")
    per_join = (cpu2 - cpu1) * 1000 / connected if connected else float("nan")
    per_1000 = (rss_idle - rss_empty) / (connected / 1000) if connected else float("nan")
    return [
        Result(
            scenario,
            "sockets held / opened",
            f"{held} / {len(pages)}",
            "",
            f"{len(pages)}",
            held == len(pages),
            f"{clients} in the chat class + {idle} idle; connected in {connect_seconds:.1f} s; "
            f"{len(dropped)} dropped; {len(errors)} errors"
            + (f" (first: {errors[0]})" if errors else ""),
        ),
        Result(
            scenario,
            "deliveries received / expected",
            f"{len(arrivals)} / {expected}",
            "",
            "all",
            len(arrivals) == expected,
        ),
        Result(
            scenario,
            f"delivery latency p50 ({1 / interval:g} messages/s)",
            round(statistics.median(paced_ms), 1) if paced_ms else "n/a",
            "ms",
        ),
        Result(
            scenario,
            f"delivery latency p99 ({1 / interval:g} messages/s)",
            round(p99, 1),
            "ms",
            "< 100 ms",
            p99 < 100,
            f"load average {load}",
        ),
        Result(
            scenario,
            "burst latency p50 / p99",
            f"{percentile(burst_ms, 50):.1f} / {percentile(burst_ms, 99):.1f}",
            "ms",
            note=f"{burst} messages sent back to back; {len(burst_at) / elapsed:.0f} deliveries/s",
        ),
        Result(
            scenario,
            "realtime CPU per delivered message",
            round(per_delivery, 3),
            "ms",
            note=f"{per_message:.1f} ms per chat message sent to {listeners} clients "
            "(store + fan-out), /proc utime+stime over the chat",
        ),
        Result(
            scenario,
            "realtime CPU per connect / per room join",
            f"{per_connect:.2f} / {per_join:.2f}",
            "ms",
            note=f"{connected} sockets; idle CPU {cpu_idle * 1000 / 2:.0f} ms/s while held",
        ),
        Result(
            scenario,
            "presence lists received by the pages while they joined",
            presence_lists,
            "",
            note=f"{connected} joins in {join_seconds:.1f} s (until the pages went quiet); one "
            "list per join to the pages that had joined would be "
            f"{_uncoalesced_lists(clients, other_classes, idle_per_class)} (more with pages "
            "whose join is in flight: they are in the room already)",
        ),
        Result(
            scenario,
            "realtime RSS per 1,000 idle sockets",
            round(per_1000, 1),
            "MB",
            note=f"{rss_empty:.0f} MB empty, {rss_idle:.0f} MB with {connected} sockets",
        ),
    ]


def _uncoalesced_lists(clients: int, other_classes: int, idle_per_class: int) -> int:
    """The lists one announcement per join sends: the k-th page joining a room reaches k."""
    return clients * (clients + 1) // 2 + other_classes * idle_per_class * (idle_per_class + 1) // 2


def _quiet(pid: int, seconds: float = 1.0) -> bool:
    """The realtime process used (almost) no CPU for `seconds`: the burst has been sent on."""
    before = cpu_seconds([pid])
    time.sleep(seconds)
    return cpu_seconds([pid]) - before < 0.2 * seconds


def run() -> list[Result]:
    """`python -m bench` adapter: the issue's scenario at full scale (BENCH_CHAT_IDLE scales
    the idle sockets per other class on a smaller machine)."""
    return measure(idle_per_class=int(os.environ.get("BENCH_CHAT_IDLE", "100")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--other-classes", type=int, default=49)
    parser.add_argument("--idle-per-class", type=int, default=100)
    parser.add_argument("--paced", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between paced")
    parser.add_argument("--burst", type=int, default=100, help="messages sent back to back")
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--redis", default=REDIS_URL)
    args = parser.parse_args(argv)
    from bench.report import print_table

    with contextlib.suppress(KeyboardInterrupt):
        print_table(
            measure(
                args.clients,
                args.other_classes,
                args.idle_per_class,
                args.paced,
                args.burst,
                args.interval,
                args.load_processes,
                args.redis,
            )
        )


if __name__ == "__main__":
    main()
