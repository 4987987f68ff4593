"""Two machines' worth on one: two portal instances (gunicorn) and two realtime processes
behind nginx, on one PostgreSQL and one Redis. Students keep their class sockets open through
nginx and join through its API; the teachers chat through the API (spread over both portal
instances). Mid-run one portal instance and one realtime process are stopped: requests go to
the other instance (nginx `proxy_next_upstream`), sockets reconnect through nginx to the
other realtime process and resync from the last chat id they saw (as live.js does).

Nothing lost means: every stored chat message reached every student (after resync) exactly
once, and every join got a join target. Spread: the upstream of every request in nginx's log.

Run alone: `python -m bench.scaleout [--classes 2] [--students-per-class 50]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests
import sqlalchemy as sa

from bench.common import ROOT, Gunicorn, Result, free_port, fresh_database, portal_env
from bench.rush import Realtime
from bench.storm import LATENCY_MS, _seed, _start_simulator, simulator_backend

NGINX = os.environ.get("BENCH_NGINX", "/usr/sbin/nginx")
SCALEOUT_REDIS_URL = os.environ.get("BENCH_SCALEOUT_REDIS_URL", "redis://127.0.0.1:6379/8")
SCENARIO = "scale-out (2 portal instances + 2 realtime processes behind nginx)"

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  log_format up '$upstream_addr $status $request_uri';
  access_log {dir}/access.log up;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  # A location with its own proxy_set_header inherits none from above: each sets all.
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  upstream portal {{ {portals} keepalive 32; }}
  upstream realtime {{ {realtimes} }}
  server {{
    listen 127.0.0.1:{port};
    location /socket.io/ {{
      proxy_pass http://realtime;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
    }}
    location / {{
      proxy_pass http://portal;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # A stopped instance: the request goes to the other one (a POST only when nothing
      # reached the dead one, so nothing is done twice).
      proxy_next_upstream error timeout;
    }}
  }}
}}
"""


class Nginx:
    def __init__(self, portals: list[int], realtimes: list[int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        conf = NGINX_CONF.format(
            dir=self.dir,
            port=self.port,
            portals=" ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in portals),
            realtimes=" ".join(
                f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in realtimes
            ),
        )
        (self.dir / "nginx.conf").write_text(conf)

    def __enter__(self) -> Nginx:
        subprocess.run(
            [NGINX, "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir), "-e", "stderr"],
            check=True,
            capture_output=True,
        )
        return self

    def upstreams(self) -> Counter:
        seen: Counter = Counter()
        for line in (self.dir / "access.log").read_text().splitlines():
            upstream, _status, uri = line.split(" ", 2)
            kind = "socket" if uri.startswith("/socket.io/") else "api"
            for addr in upstream.split(", "):  # a retried request names both
                seen[(kind, addr.rsplit(":", 1)[-1])] += 1
        return seen

    def __exit__(self, *exc: object) -> None:
        pid = self.dir / "nginx.pid"
        if pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid.read_text()), 15)
        time.sleep(0.5)
        errors = self.dir / "error.log"
        if errors.exists() and errors.stat().st_size:
            print("nginx:", errors.read_text()[-2000:], flush=True)
        shutil.rmtree(self.dir, ignore_errors=True)


async def _students(base: str, students, go, finished, stop_at, out) -> None:
    import aiohttp
    import socketio

    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    clients = []
    received: list[dict[int, int]] = []
    joins: list[int] = []
    reconnects = [0]

    async def page(token: str, schedule_id: int) -> None:
        seen: dict[int, int] = {}
        received.append(seen)
        client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2)
        last: list[int | None] = [None]

        def saw(messages) -> None:
            for m in messages:
                seen[m["id"]] = seen.get(m["id"], 0) + 1
                last[0] = max(last[0] or 0, m["id"])

        joined = asyncio.Event()

        async def rejoin() -> None:
            payload = {"schedule_id": schedule_id, "limit": 200}
            if last[0] is not None:
                payload["after_id"] = last[0]
                reconnects[0] += 1
            answer = await client.call("join", payload, timeout=30)
            if answer.get("ok"):
                # The first join's history is the same for everyone: count only what is new.
                saw([m for m in answer["messages"] if m["id"] not in seen])
            joined.set()

        client.on("chat:message", lambda m: saw([m]) if m["id"] not in seen else seen.update())
        client.on("connect", lambda: asyncio.ensure_future(rejoin()))
        await client.connect(
            base,
            auth={"token": token},
            headers={"Origin": base},
            transports=["websocket"],
            wait_timeout=60,
        )
        await asyncio.wait_for(joined.wait(), 60)  # the page is in its room
        clients.append(client)

    await asyncio.gather(*(page(t, s) for t, s in students))
    out.put(("ready", len(clients)))
    while not go.is_set():
        await asyncio.sleep(0.05)

    async def join(token: str, schedule_id: int) -> None:
        url = f"{base}/api/schedules/{schedule_id}/join"
        async with http.post(url, headers={"Authorization": f"Bearer {token}"}) as response:
            joins.append(response.status)

    # Joins spread over the run, so some meet the stopped instance.
    for token, sid in students:
        await join(token, sid)
        await asyncio.sleep(max(0.0, (stop_at.value + 4 - time.time()) / max(1, len(students))))
    while not finished.is_set():  # the chat is over: what was stored has had time to arrive
        await asyncio.sleep(0.2)
    out.put(("done", {"received": received, "joins": joins, "reconnects": reconnects[0]}))
    await http.close()
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)


def _load(base: str, students, go, finished, stop_at, out) -> None:
    asyncio.run(_students(base, students, go, finished, stop_at, out))


def run_scaleout(classes_count: int = 2, per_class: int = 50, messages: int = 100) -> list[Result]:
    import redis

    redis.Redis.from_url(SCALEOUT_REDIS_URL).flushdb()
    sim, api_url, secret = _start_simulator(LATENCY_MS)
    log = ROOT / "instance" / "bench-scaleout.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        "PORTAL_REDIS_URL": SCALEOUT_REDIS_URL,
        "PORTAL_LOG_JSON": "false",
        "PORTAL_PROXY_FIX_X_FOR": "1",
        "PORTAL_PROXY_FIX_X_PROTO": "1",
        "PORTAL_PROXY_FIX_X_HOST": "1",
    }
    try:
        with (
            fresh_database("bench_scaleout") as url,
            contextlib.ExitStack() as stack,
        ):
            seed = _seed(url, classes_count, classes_count * per_class)
            portal_a = stack.enter_context(Gunicorn(url, workers=1, threads=8, **env))
            portal_b = stack.enter_context(Gunicorn(url, workers=1, threads=8, **env))
            rt_env = portal_env(url, PORTAL_BASE_URL=portal_a.base, **env)
            rt_a = stack.enter_context(Realtime(rt_env, log))
            rt_b = stack.enter_context(Realtime(rt_env, log))
            proxy = stack.enter_context(
                Nginx([portal_a.port, portal_b.port], [rt_a.port, rt_b.port])
            )
            admin = {"Authorization": f"Bearer {seed['admin']}"}
            requests.post(
                f"{proxy.url}/api/admin/backends",
                headers=admin,
                timeout=30,
                json=simulator_backend(api_url, secret, timeout_seconds=10),
            ).raise_for_status()
            for token, sid in seed["teachers"]:
                started = requests.post(
                    f"{proxy.url}/api/schedules/{sid}/start",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                started.raise_for_status()
            ctx = mp.get_context("fork")
            out, go, finished = ctx.Queue(), ctx.Event(), ctx.Event()
            stop_at = ctx.Value("d", 0.0)
            loader = ctx.Process(
                target=_load, args=(proxy.url, seed["students"], go, finished, stop_at, out)
            )
            loader.start()
            kind, connected = out.get(timeout=600)
            stop_at.value = time.time() + 5
            go.set()
            posted: list[int] = []

            def chat() -> None:
                session = requests.Session()
                for n in range(messages):
                    token, sid = seed["teachers"][n % classes_count]
                    try:
                        answer = session.post(
                            f"{proxy.url}/api/schedules/{sid}/chat",
                            headers={"Authorization": f"Bearer {token}"},
                            json={"body": f"message {n}"},
                            timeout=30,
                        )
                        posted.append(answer.status_code)
                    except requests.RequestException:
                        posted.append(0)
                    time.sleep(10 / messages)

            chatter = threading.Thread(target=chat, daemon=True)
            chatter.start()
            time.sleep(max(0.0, stop_at.value - time.time()))
            portal_a.__exit__()  # graceful stop: in-flight requests finish
            rt_a.__exit__()
            chatter.join(120)
            time.sleep(3.0)
            finished.set()
            kind, report = out.get(timeout=120)
            loader.join(30)
            spread = proxy.upstreams()
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                stored = dict(
                    conn.execute(
                        sa.text("select schedule_id, count(*) from chat_messages group by 1")
                    ).all()
                )
            engine.dispose()
    finally:
        sim.kill()
        sim.wait(10)

    per_student = [
        (sid, seen) for (_, sid), seen in zip(seed["students"], report["received"], strict=True)
    ]
    if os.environ.get("BENCH_SCALEOUT_DEBUG"):
        for sid, seen in per_student:
            if len(seen) != stored.get(sid):
                print("incomplete", sid, stored.get(sid), len(seen), sorted(seen))
    complete = sum(1 for sid, seen in per_student if len(seen) == stored.get(sid, 0))
    twice = sum(1 for _, seen in per_student for n in seen.values() if n > 1)
    joins_ok = sum(1 for s in report["joins"] if s == 200)
    ports = {
        "portal A": str(portal_a.port),
        "portal B": str(portal_b.port),
        "realtime A": str(rt_a.port),
        "realtime B": str(rt_b.port),
    }
    spread_note = ", ".join(
        f"{name} {spread[('api' if name.startswith('portal') else 'socket', port)]}"
        for name, port in ports.items()
    )
    students = len(seed["students"])
    return [
        Result(
            SCENARIO,
            "joins succeeded / pressed",
            f"{joins_ok} / {len(report['joins'])}",
            "",
            f"{students} / {students}",
            joins_ok == students,
            "portal A and realtime A stopped mid-run",
        ),
        Result(
            SCENARIO,
            "students with every stored message / students",
            f"{complete} / {students}",
            "",
            f"{students}",
            complete == students and twice == 0,
            f"{sum(stored.values())} stored of {len(posted)} posted "
            f"({sum(1 for s in posted if s in (200, 201))} answered ok, the others "
            f"{sorted(set(s for s in posted if s not in (200, 201)))}); "
            f"{twice} duplicates; {report['reconnects']} resyncs after the stop",
        ),
        Result(
            SCENARIO, "requests per upstream (nginx log)", spread_note, note=f"{connected} sockets"
        ),
    ]


def run() -> list[Result]:
    return run_scaleout()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--students-per-class", type=int, default=50)
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args(argv)
    from bench.report import print_table

    print_table(run_scaleout(args.classes, args.students_per_class, args.messages))


if __name__ == "__main__":
    main()
