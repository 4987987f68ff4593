"""Throwaway PostgreSQL and Redis servers the fault tests may restart or kill.

Never the shared services: each instance runs from a temporary directory on a free port and
is stopped by the test that started it. PostgreSQL refuses to run as root, so as root the
data directory is handed to the `postgres` user and the tools run through runuser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from portal_testing import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


class ThrowawayPostgres:
    def __init__(self) -> None:
        # Its own directory under /tmp: pytest's tmp dirs are private to root (mode 700).
        base = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.base = base
        self.dir = base / "pgdata"
        self.port = free_port()
        self.log = base / "pg.log"

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (
            os.geteuid() != 0 or shutil.which("runuser") is not None
        )

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            _as_postgres([str(PG_BIN / args[0]), *args[1:]]),
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}")

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres")
        self._run("initdb", "-D", str(self.dir), "-A", "trust", "-U", "portal", "--no-sync")
        self._ctl("start")
        return f"postgresql+psycopg://portal@127.0.0.1:{self.port}/postgres"

    def _ctl(self, action: str, *extra: str) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.dir),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            action,
            *extra,
        )

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir), "-w", "-t", "30", "stop", "-m", "immediate")

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


class ThrowawayRedis:
    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.base = base
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> str:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
