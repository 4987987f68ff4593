"""The 09:00 rush as the pages make it: N classes x M students (default 50 x 100) have their
waiting pages open (a Socket.IO connection each, joined to their class's room, as live.js
does); T teachers press start within a window (default 10 s, API start); each student's
client reacts to the pushed `class:started` and joins as the page does: `class:join` over the
socket it holds (`--join socket`, the default), or `--join rest` for the page's fallback,
POST /api/schedules/<id>/join (the path before the socket join, for comparison).

Processes: the portal API under gunicorn (gthread workers), one `portal realtime` process
holding the sockets, both on a fresh PostgreSQL database and one Redis database (Flask
workers publish through it); the backend is the BBB simulator (its own process, 20 ms per
call) or the bundled SFU (native_sfu). The students' clients are python-socketio
AsyncClients, many per asyncio loop, in 1-2 load processes.

Figures (each with its target): press -> student holds a join target p50/p99, press ->
`class:started` received p50/p99, join API latency p50/p99, joins served per second, CPU ms
per join in the portal processes (utime+stime from /proc, before/after the rush), sockets
held, realtime RSS per 1,000 idle sockets, errors, backend creates per class.

Run alone: `python -m bench.rush [--classes 5] [--students-per-class 20] [--backend bbb|sfu]
[--join socket|rest] [--realtime-processes N]`: with N > 1, N `portal realtime` processes
share the rooms through Redis and load process i's pages use process i mod N.
`BENCH_RUSH_CLASSES` / `BENCH_RUSH_STUDENTS` scale the default run (`python -m bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import requests
import sqlalchemy as sa

from bench.common import (
    BIN,
    ROOT,
    Gunicorn,
    Result,
    free_port,
    fresh_database,
    percentile,
    portal_env,
    rss_mb,
)
from bench.storm import LATENCY_MS, RETRY_AFTER, _seed, _start_simulator, simulator_backend

RUSH_REDIS_URL = os.environ.get("BENCH_RUSH_REDIS_URL", "redis://127.0.0.1:6379/7")
GIVE_UP_AFTER = 60.0
CONNECTS_AT_ONCE = 40
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes so far (children already reaped are not counted)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return total / CLOCK_TICKS


class Realtime:
    """`portal realtime` (sockets only; the API is gunicorn's) on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Realtime:
        out = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [str(BIN / "portal"), "realtime", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                probe = f"{self.url}/socket.io/?EIO=4&transport=polling"
                if requests.get(probe, timeout=1).status_code < 500:
                    return self
            except requests.RequestException:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"the realtime process did not come up; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def _students(
    realtime_url: str,
    api_base: str,
    students: list[tuple[str, int]],
    ready: mp.Queue,
    go: mp.Event,
    deadline_at: mp.Value,
    out: mp.Queue,
    join_over: str = "socket",
    class_sizes: dict[int, int] | None = None,
) -> None:
    import aiohttp
    import socketio

    origin = realtime_url  # the realtime server accepts the origin it is reached on
    results: list[tuple] = []
    errors: list[str] = []
    clients: list[socketio.AsyncClient] = []
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=60)
    )
    fresh = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True), timeout=aiohttp.ClientTimeout(total=60)
    )
    done = asyncio.Event()
    closing = False  # set before the run's own disconnects: those are not drops
    dropped: list[str] = []  # why each socket the server or a missed ping closed went
    settled: set = set()  # the pages that heard their whole class present
    class_sizes = class_sizes or Counter(sid for _, sid in students)
    retried: list[str] = []  # joins sent again after a closed keep-alive connection

    def finish(record: tuple) -> None:
        results.append(record)
        if len(results) == len(students):
            done.set()

    async def join_api(token: str, schedule_id: int, pushed_at: float) -> None:
        url = f"{api_base}/api/schedules/{schedule_id}/join"
        headers = {"Authorization": f"Bearer {token}"}
        attempts = 0
        resent = False
        while True:
            attempts += 1
            sent = time.time()
            # The one resend goes on a new connection (the pool may hold more stale ones).
            try:
                async with (fresh if resent else http).post(url, headers=headers) as response:
                    body = await response.read()
                    status = response.status
            except aiohttp.ServerDisconnectedError as exc:
                # Most likely gunicorn closed an idle keep-alive connection (after its 2 s
                # default) just as aiohttp reused it. A join is idempotent: send it again
                # once, as a browser does on a connection reset; a second loss is an error.
                if not resent:
                    resent = True
                    retried.append(repr(exc)[:200])
                    continue
                finish((schedule_id, pushed_at, sent, time.time(), 0, attempts, repr(exc)[:200]))
                return
            except Exception as exc:  # reported, not fatal: a failed press is a figure
                finish((schedule_id, pushed_at, sent, time.time(), 0, attempts, repr(exc)[:200]))
                return
            if status == 409 and b"not_started" in body and time.time() - pushed_at < 30:
                await asyncio.sleep(RETRY_AFTER)
                continue
            error = "" if status == 200 else body[:200].decode(errors="replace")
            finish((schedule_id, pushed_at, sent, time.time(), status, attempts, error))
            return

    async def join_socket(client: socketio.AsyncClient, schedule_id: int, pushed_at: float):
        """room.js's join while its socket is up: `class:join`, answered by the ack."""
        attempts = 0
        while True:
            attempts += 1
            sent = time.time()
            try:
                answer = await client.call(
                    "class:join", {"schedule_id": schedule_id}, timeout=GIVE_UP_AFTER
                )
            except Exception as exc:  # reported, not fatal: a lost ack is a figure
                finish((schedule_id, pushed_at, sent, time.time(), 0, attempts, repr(exc)[:200]))
                return
            error = answer.get("error") or {}
            if error.get("code") == "not_started" and time.time() - pushed_at < 30:
                await asyncio.sleep(RETRY_AFTER)
                continue
            status = 200 if answer.get("ok") else 0
            finish((schedule_id, pushed_at, sent, time.time(), status, attempts, str(error)[:200]))
            return

    async def open_page(token: str, schedule_id: int) -> None:
        client = socketio.AsyncClient(reconnection=False)
        started = asyncio.Event()

        async def on_started(data: dict) -> None:
            if data.get("schedule_id") != schedule_id or started.is_set():
                return
            started.set()
            # The waiting page turns into the room and joins on this push.
            if join_over == "socket":
                asyncio.ensure_future(join_socket(client, schedule_id, time.time()))
            else:
                asyncio.ensure_future(join_api(token, schedule_id, time.time()))

        async def on_disconnect(*reason: object) -> None:
            if not closing:
                dropped.append(str(reason[0]) if reason else "disconnected")

        async def on_presence(data: dict) -> None:
            if data.get("schedule_id") == schedule_id and len(data.get("users") or ()) >= size:
                settled.add(client)

        size = class_sizes[schedule_id]
        client.on("class:started", on_started)
        client.on("presence", on_presence)
        client.on("disconnect", on_disconnect)
        async with gate:
            try:
                await client.connect(
                    realtime_url,
                    auth={"token": token},
                    headers={"Origin": origin},
                    transports=["websocket"],
                    wait_timeout=60,
                )
                answer = await client.call("join", {"schedule_id": schedule_id, "limit": 1})
                if not answer.get("ok"):
                    raise RuntimeError(f"socket join refused: {answer.get('error')}")
            except Exception as exc:
                errors.append(f"connect: {exc!r}"[:200])
                finish((schedule_id, 0.0, 0.0, 0.0, 0, 0, f"connect: {exc!r}"[:200]))
                return
        clients.append(client)

    await asyncio.gather(*(open_page(token, sid) for token, sid in students))
    connected_at = time.time()
    # Each room join announces the room's presence to the room; once every page has heard
    # its whole class listed, the announcements are delivered and the pages are idle (the
    # figures of the rush are then the rush's, not the tail of the connects).
    for _ in range(1200):
        if len(settled) >= len(clients):
            break
        await asyncio.sleep(0.1)
    ready.put((sum(1 for c in clients if c.connected), connected_at))
    while not go.is_set():
        await asyncio.sleep(0.05)
    remaining = deadline_at.value - time.time()
    with contextlib.suppress(TimeoutError):  # the figures then count who did not get there
        await asyncio.wait_for(done.wait(), timeout=max(1.0, remaining))
    held = sum(1 for c in clients if c.connected)
    out.put(
        {
            "results": results,
            "errors": errors,
            "held": held,
            "expected": len(students),
            "dropped": dropped,
            "retried": retried,
        }
    )
    # The pages stay open until the CPU is read: closing 5,000 sockets (presence, attendance)
    # is not the joins' work.
    for _ in range(1200):
        if not go.is_set():
            break
        await asyncio.sleep(0.05)
    closing = True
    await http.close()
    await fresh.close()
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)


def _load_process(
    realtime_url: str,
    api_base: str,
    students,
    ready,
    go,
    deadline_at,
    out,
    join_over: str,
    class_sizes: dict[int, int],
) -> None:
    asyncio.run(
        _students(
            realtime_url, api_base, students, ready, go, deadline_at, out, join_over, class_sizes
        )
    )


def _configure_backend(base: str, admin_token: str, backend: str, api_url: str, secret: str):
    auth = {"Authorization": f"Bearer {admin_token}"}
    if backend == "bbb":
        body = simulator_backend(api_url, secret, checksum_algorithm="sha256", timeout_seconds=10)
    else:
        body = {"name": "Built-in SFU", "backend": "native_sfu", "is_default": True, "settings": {}}
    created = requests.post(f"{base}/api/admin/backends", headers=auth, timeout=30, json=body)
    created.raise_for_status()


def run_rush(
    classes_count: int = 50,
    per_class: int = 100,
    window: float = 10.0,
    backend: str = "bbb",
    workers: int = 3,
    threads: int = 8,
    load_processes: int = 2,
    join_over: str = "socket",
    profile: Path | None = None,
    realtime_processes: int = 1,
) -> list[Result]:
    students = classes_count * per_class
    processes = f", {realtime_processes} realtime processes" if realtime_processes > 1 else ""
    scenario = (
        f"rush ({classes_count} classes x {per_class} students, starts in {window:g} s, "
        f"{'BBB simulator 20 ms' if backend == 'bbb' else 'bundled SFU'}, join over "
        f"{'the socket' if join_over == 'socket' else 'REST'}{processes})"
    )
    log = ROOT / "instance" / "bench-rush.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    import redis

    redis.Redis.from_url(RUSH_REDIS_URL).flushdb()
    sim = None
    api_url = secret = ""
    if backend == "bbb":
        sim, api_url, secret = _start_simulator(LATENCY_MS)
    try:
        with fresh_database("bench_rush") as url:
            seed = _seed(url, classes_count, students)
            env = {"PORTAL_REDIS_URL": RUSH_REDIS_URL, "PORTAL_LOG_JSON": "false"}
            with Gunicorn(url, workers=workers, threads=threads, **env) as server:
                rt_env = portal_env(url, PORTAL_BASE_URL=server.base, **env)
                with contextlib.ExitStack() as realtimes_open:
                    # Each load process's pages on one realtime process, so a class's
                    # students are spread over them all (its rooms shared through Redis).
                    realtimes = [
                        realtimes_open.enter_context(Realtime(rt_env, log))
                        for _ in range(realtime_processes)
                    ]
                    realtime = realtimes[0]
                    _configure_backend(server.base, seed["admin"], backend, api_url, secret)
                    session = requests.Session()
                    auth = {"Authorization": f"Bearer {seed['admin']}"}
                    for _ in range(100):  # warm every worker's pool, as a running site is
                        session.get(f"{server.base}/api/classes", headers=auth, timeout=30)
                    rt_pids = [r.process.pid for r in realtimes if r.process]
                    ping_interval, ping_timeout = _ping_settings(realtime.url)
                    rss_before = sum(rss_mb(pid) for pid in rt_pids)
                    ctx = mp.get_context("fork")
                    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
                    deadline_at = ctx.Value("d", 0.0)
                    procs = [
                        ctx.Process(
                            target=_load_process,
                            args=(
                                realtimes[i % len(realtimes)].url,
                                server.base,
                                seed["students"][i::load_processes],
                                ready,
                                go,
                                deadline_at,
                                out,
                                join_over,
                                dict(Counter(sid for _, sid in seed["students"])),
                            ),
                        )
                        for i in range(load_processes)
                    ]
                    connect_begun = time.time()
                    rt_cpu_idle = cpu_seconds(rt_pids)
                    for proc in procs:
                        proc.start()
                    # 5,000 connects took over 900 s on a starved machine (RESULTS.md).
                    deadline = max(900.0, students * 0.4)
                    counts = [ready.get(timeout=deadline) for _ in procs]
                    connected = sum(n for n, _ in counts)
                    connect_seconds = max(at for _, at in counts) - connect_begun
                    # Idle: what the waiting pages cost while nothing happens, once the
                    # realtime process has finished announcing their presence (its CPU
                    # then stays under a tenth of a core), so the joins' figure is theirs.
                    for pid in rt_pids:
                        _settle(pid)
                    rss_idle = sum(rss_mb(pid) for pid in rt_pids)
                    portal_pids = [server.process.pid, *server.worker_pids()]
                    api_cpu_before = cpu_seconds(portal_pids)
                    rt_cpu_before = cpu_seconds(rt_pids)
                    connects_cpu = rt_cpu_before - rt_cpu_idle
                    t0 = time.time() + 1.0
                    rng = random.Random(20)
                    press_at = {sid: t0 + rng.uniform(0, window) for _, sid in seed["teachers"]}
                    deadline_at.value = t0 + window + GIVE_UP_AFTER
                    starts: dict[int, tuple[float, int, str]] = {}

                    def press(token: str, sid: int) -> None:
                        time.sleep(max(0.0, press_at[sid] - time.time()))
                        pressed = time.time()
                        try:
                            answer = requests.post(
                                f"{server.base}/api/schedules/{sid}/start",
                                headers={"Authorization": f"Bearer {token}"},
                                timeout=60,
                            )
                            status, error = answer.status_code, "" if answer.ok else answer.text
                        except requests.RequestException as exc:
                            status, error = 0, repr(exc)
                        press_at[sid] = pressed
                        starts[sid] = (time.time() - pressed, status, error[:200])

                    teachers = [
                        threading.Thread(target=press, args=pair, daemon=True)
                        for pair in seed["teachers"]
                    ]
                    # Sampled from the press to the last join (py-spy, collapsed stacks).
                    sampler = _start_profile(rt_pids[0], profile) if profile else None
                    pushes = _PushTimes(RUSH_REDIS_URL, "portal-live").__enter__()
                    go.set()
                    for thread in teachers:
                        thread.start()
                    reports = [out.get(timeout=GIVE_UP_AFTER + window + 120) for _ in procs]
                    for thread in teachers:
                        thread.join(10)
                    api_cpu = cpu_seconds(portal_pids) - api_cpu_before
                    rt_cpu = cpu_seconds(rt_pids) - rt_cpu_before
                    pushes.__exit__()
                    if sampler is not None:
                        _stop_profile(sampler)
                    go.clear()  # measured: the pages may close now
                    for proc in procs:
                        proc.join(30)
                    creates = _creates_per_class(url, backend, api_url)
    finally:
        if sim is not None:
            sim.kill()
            sim.wait(10)

    records = [r for rep in reports for r in rep["results"]]
    joined = [r for r in records if r[4] == 200]
    failed = [r for r in records if r[4] != 200]
    failed_starts = [s for s in starts.values() if s[1] != 200]
    held = sum(rep["held"] for rep in reports)
    dropped = [why for rep in reports for why in rep["dropped"]]
    retried = [why for rep in reports for why in rep.get("retried", [])]
    reasons = ", ".join(f"{n} {why}" for why, n in Counter(dropped).most_common(3))
    hold_ms = [(r[3] - press_at[r[0]]) * 1000 for r in joined]
    push_ms = [(r[1] - press_at[r[0]]) * 1000 for r in joined]
    join_ms = [(r[3] - r[2]) * 1000 for r in joined]
    published = pushes.published
    commit_ms = [(at - press_at[sid]) * 1000 for sid, at in published.items()]
    deliver_ms = [(r[1] - published[r[0]]) * 1000 for r in joined if r[0] in published]
    span = (max(r[3] for r in joined) - min(r[2] for r in joined)) if joined else float("nan")
    served = len(joined) / span if joined and span > 0 else float("nan")
    cpu_join = (api_cpu + rt_cpu) * 1000 / len(joined) if joined else float("nan")
    api_join = api_cpu * 1000 / len(joined) if joined else float("nan")
    per_1000 = (rss_idle - rss_before) / (connected / 1000) if connected else float("nan")
    start_ms = [s[0] * 1000 for s in starts.values() if s[1] == 200]
    # With the joins over the socket, gunicorn's CPU during the rush is the starts'.
    cpu_start = api_cpu * 1000 / len(start_ms) if start_ms else float("nan")
    cpu_page = connects_cpu * 1000 / connected if connected else float("nan")
    first = f"; first: {failed[0][6]}" if failed else ""
    first_start = f"; first start: {failed_starts[0][2]}" if failed_starts else ""
    once = len(creates) == classes_count and all(n == 1 for n in creates.values())
    offered = students / window
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    cpu_note = (
        f"API (gunicorn {workers}x{threads}) {api_join:.2f} ms + realtime "
        f"{rt_cpu * 1000 / max(1, len(joined)):.2f} ms; includes the {classes_count} starts "
        f"and the pushes; load average {load}"
    )
    p99_hold = percentile(hold_ms, 99)
    ping = f"interval {ping_interval:g} s, timeout {ping_timeout:g} s"
    return [
        Result(
            scenario,
            "sockets held (waiting pages) / students",
            f"{held} / {students}",
            "",
            f"{students}",
            held == students,
            f"all connected in {connect_seconds:.1f} s ({connected} joined their room)",
        ),
        Result(
            scenario,
            "sockets dropped (closed by the server or a missed ping)",
            len(dropped),
            "",
            "0",
            not dropped,
            f"Engine.IO ping {ping}; {reasons or 'none'}",
        ),
        Result(
            scenario,
            "press -> holds join target p50 / p99",
            f"{percentile(hold_ms, 50):.0f} / {p99_hold:.0f}",
            "ms",
            "p99 < 3000 ms",
            p99_hold < 3000,
            f"{len(joined)} students; offered {offered:.0f} joins/s on average, in bursts of "
            f"{per_class} per push",
        ),
        Result(
            scenario,
            "press -> class:started received p50 / p99",
            f"{percentile(push_ms, 50):.0f} / {percentile(push_ms, 99):.0f}",
            "ms",
            "p99 < 250 ms",
            percentile(push_ms, 99) < 250,
            f"includes the start itself (p50 {percentile(start_ms, 50):.0f} ms, backend create)",
        ),
        Result(
            scenario,
            "press -> class:started published p50 / p99",
            f"{percentile(commit_ms, 50):.0f} / {percentile(commit_ms, 99):.0f}",
            "ms",
            note=f"the start request up to its commit's publish to Redis ({len(published)} "
            "classes)",
        ),
        Result(
            scenario,
            "class:started published -> received p50 / p99",
            f"{percentile(deliver_ms, 50):.0f} / {percentile(deliver_ms, 99):.0f}",
            "ms",
            note="Redis to the realtime process, its fan-out to the room, the client's loop",
        ),
        Result(
            scenario,
            "join latency p50 / p99 (client: sent -> target received)",
            f"{percentile(join_ms, 50):.1f} / {percentile(join_ms, 99):.1f}",
            "ms",
            "p99 < 100 ms",
            percentile(join_ms, 99) < 100,
            f"{'class:join ack' if join_over == 'socket' else 'POST .../join'}; a join only "
            "signs a target: all of it is portal time and queueing",
        ),
        Result(scenario, "joins served per second", round(served, 0), "/s", note=f"{span:.1f} s"),
        Result(
            scenario,
            "CPU per join (portal processes, /proc)",
            round(cpu_join, 2),
            "ms",
            "<= 2 ms",
            cpu_join <= 2,
            cpu_note,
        ),
        Result(
            scenario,
            "CPU per start (gunicorn, /proc)",
            round(cpu_start, 1),
            "ms",
            note=f"gunicorn's CPU during the rush over the {len(start_ms)} starts"
            + (
                " (the joins are over the socket)"
                if join_over == "socket"
                else ", with the REST joins"
            ),
        ),
        Result(
            scenario,
            "realtime CPU per waiting page (connect + room join, /proc)",
            round(cpu_page, 2),
            "ms",
            note="from the first connect until every page heard its class present",
        ),
        Result(
            scenario,
            "realtime RSS per 1,000 idle sockets",
            round(per_1000, 1),
            "MB",
            note=f"{rss_before:.0f} MB empty, {rss_idle:.0f} MB with {connected} sockets",
        ),
        Result(
            scenario,
            "errors (joins, starts)",
            f"{len(failed)}, {len(failed_starts)}",
            "",
            "0",
            not failed and not failed_starts,
            f"{first}{first_start}".lstrip("; ")
            + f"; {len(retried)} joins sent again once after a closed keep-alive connection",
        ),
        Result(
            scenario,
            "backend creates per class",
            f"{min(creates.values(), default=0)}-{max(creates.values(), default=0)}",
            "",
            "exactly 1",
            once,
            "simulator's create calls per meetingID"
            if backend == "bbb"
            else "meeting rows created per occurrence (the SFU's ensure_room is idempotent)",
        ),
    ]


def _settle(pid: int, *, quiet: float = 0.1, most: float = 60.0) -> None:
    """Wait until the process spends under `quiet` of a core (per second), at most `most` s."""
    deadline = time.monotonic() + most
    while time.monotonic() < deadline:
        before = cpu_seconds([pid])
        time.sleep(1.0)
        if cpu_seconds([pid]) - before < quiet:
            return


def _start_profile(pid: int, path: Path) -> subprocess.Popen:
    """py-spy sampling the realtime process (`pip install py-spy` into the venv)."""
    command = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--format", "raw"]
    return subprocess.Popen([*command, "--rate", "200", "--output", str(path)], cwd=ROOT)


def _stop_profile(sampler: subprocess.Popen) -> None:
    import signal

    sampler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
    try:
        sampler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        sampler.kill()


class _PushTimes:
    """When each class's `class:started` reached Redis (the start request's after-commit
    publish), read from the pub/sub channel the realtime process listens on: the press ->
    received time splits into the start request (up to its commit) and the delivery."""

    def __init__(self, url: str, channel: str) -> None:
        import redis

        self.published: dict[int, float] = {}
        self.stopping = threading.Event()
        self.pubsub = redis.Redis.from_url(url).pubsub()
        self.pubsub.subscribe(channel)
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> _PushTimes:
        self.thread.start()
        return self

    def _listen(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if not message or message["type"] != "message":
                continue
            try:
                data = json.loads(message["data"])
            except ValueError:
                continue
            to = str(data.get("room") or "").split(":")
            if data.get("event") == "class:started" and len(to) == 2 and to[0] == "schedule":
                self.published.setdefault(int(to[1]), time.time())

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.pubsub.close()


def _ping_settings(realtime_url: str) -> tuple[float, float]:
    """The heartbeat the realtime server announces in its Engine.IO handshake (seconds)."""
    answer = requests.get(f"{realtime_url}/socket.io/?EIO=4&transport=polling", timeout=30).text
    handshake = json.loads(answer[answer.index("{") :])
    return handshake["pingInterval"] / 1000, handshake["pingTimeout"] / 1000


def _creates_per_class(database_url: str, backend: str, api_url: str) -> dict[str, int]:
    if backend == "bbb":
        stats = requests.get(api_url.split("/bigbluebutton")[0] + "/_simulator/stats", timeout=30)
        return stats.json()["create_calls_by_meeting"]
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select schedule_id, count(*) from meetings where started_at is not null "
                "group by schedule_id"
            )
        ).all()
    engine.dispose()
    return {str(sid): n for sid, n in rows}


def run() -> list[Result]:
    classes_count = int(os.environ.get("BENCH_RUSH_CLASSES", "50"))
    per_class = int(os.environ.get("BENCH_RUSH_STUDENTS", "100"))
    results = run_rush(classes_count, per_class, backend="bbb")
    return results + run_rush(classes_count, per_class, backend="sfu")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--students-per-class", type=int, default=100)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--backend", choices=["bbb", "sfu"], default="bbb")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument(
        "--realtime-processes",
        type=int,
        default=1,
        help="realtime processes sharing the rooms through Redis (load process i uses i mod n)",
    )
    parser.add_argument(
        "--join",
        choices=["socket", "rest"],
        default="socket",
        help="how the students join on the pushed start: class:join (as the page) or REST",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a py-spy sampling profile of the realtime process during the rush here",
    )
    args = parser.parse_args(argv)
    from bench.report import print_table

    print_table(
        run_rush(
            args.classes,
            args.students_per_class,
            args.window,
            args.backend,
            args.workers,
            args.threads,
            args.load_processes,
            args.join,
            args.profile,
            args.realtime_processes,
        )
    )


if __name__ == "__main__":
    main()
