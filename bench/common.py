"""Shared pieces of the benchmarks: a fresh PostgreSQL database, the portal under gunicorn,
a threaded load generator and percentile maths. Figures are measured, never assumed."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://portal:portal@127.0.0.1:5432/postgres"
)
# Below the test suite's Redis databases (15 to 12, one per xdist worker): the benchmarks flush
# theirs, and a bench run beside `make test` must not empty a worker's.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
SECRET_KEY = "bench-secret-key-not-for-production-0123456789"


@dataclass
class Result:
    scenario: str
    figure: str
    value: float | str
    unit: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""


def percentile(values: Iterable[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def fresh_database(prefix: str = "bench"):
    """A new empty PostgreSQL database, migrated; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = sa.engine.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        env = portal_env(url)
        subprocess.run(
            [str(BIN / "portal"), "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def portal_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_REDIS_URL": REDIS_URL,
            "PORTAL_SECRET_KEY": SECRET_KEY,
            "PORTAL_LOGIN_RATE_LIMIT": "1000000 per minute",
            "PORTAL_LOG_JSON": "true",
            "PORTAL_INSTANCE_PATH": str(ROOT / "instance" / "bench"),
        }
    )
    env.update(extra)
    return env


class Gunicorn:
    """The portal as in production: gunicorn, several worker processes, threads in each."""

    def __init__(self, database_url: str, workers: int = 4, threads: int = 8, **env: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = portal_env(database_url, PORTAL_BASE_URL=self.base, **env)
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        log = open(ROOT / "instance" / "bench-gunicorn.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-w",
                str(self.workers),
                "-k",
                "gthread",
                "--threads",
                str(self.threads),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "portal:create_app()",
            ],
            env=self.env,
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("gunicorn did not come up; see instance/bench-gunicorn.log")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_calls(
    call: Callable[[int], object], count: int, concurrency: int
) -> tuple[list[float], list[str]]:
    """Run call(i) count times on `concurrency` threads; latencies in ms and error texts."""
    latencies: list[float] = []
    errors: list[str] = []

    def one(i: int) -> None:
        started = time.perf_counter()
        try:
            call(i)
        except Exception as exc:  # the benchmark reports failures instead of dying on them
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return
        latencies.append((time.perf_counter() - started) * 1000)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return latencies, errors


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, Python "
        f"{platform.python_version()}, {platform.system()}"
    )
