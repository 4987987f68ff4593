"""Flask's side of the local channel to the SFU worker processes.

Each worker owns the rooms that hash to it (crc32(room) % workers), so a room lives on one
process and one event loop. Workers listen on Unix sockets in `run_dir`; when a socket does
not answer, the pool starts the worker (the worker's lock file makes concurrent starts from
several Flask processes harmless) and waits, bounded, for it to come up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.plugins import BackendUnavailable
from portal.plugins.i18n import domain

# The plugin's own catalogue: these reasons reach the teacher inside the core's 503 sentence.
translations = domain("portal_native_sfu")

SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 108 bytes on Linux


class WorkerError(Exception):
    """The worker refused a request (bad SDP, no publisher, ...)."""

    def __init__(self, code: str, message: str, values: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.values = values or {}

    @property
    def shown(self) -> str:
        """The refusal in the reader's language: the worker sends the English catalogue
        entry and its values (media.SfuError)."""
        text = translations.gettext(self.message)
        try:
            return text % self.values if self.values else text
        except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
            return self.message % self.values if self.values else self.message


def short_run_dir(preferred: Path) -> Path:
    """`preferred`, unless its socket paths would be too long for AF_UNIX."""
    if len(str(preferred / "sfu-00.sock")) <= SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"portal-sfu-{digest}"


@dataclass
class WorkerPool:
    run_dir: Path
    workers: int
    recording_dir: Path
    autostart: bool = True
    timeout: float = 15.0
    start_timeout: float = 15.0
    extra_args: list[str] = field(default_factory=list)
    sockets: list[Path] | None = None  # explicit socket paths (benchmarks, external workers)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _children: list[subprocess.Popen] = field(default_factory=list)

    def socket_path(self, index: int) -> Path:
        if self.sockets:
            return self.sockets[index]
        return self.run_dir / f"sfu-{index:02d}.sock"

    def index_for(self, room: str) -> int:
        return zlib.crc32(room.encode()) % self.workers

    # Calls

    def call(
        self,
        room: str | None,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        index: int | None = None,
        timeout: float | None = None,
    ) -> Any:
        if index is None:
            index = self.index_for(room or "")
        payload = dict(params or {})
        if room is not None:
            payload.setdefault("room", room)
        try:
            return self._request(index, method, payload, timeout or self.timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            if not self.autostart:
                raise BackendUnavailable(
                    translations.gettext("the video server (SFU worker) is not running")
                ) from None
        except OSError as exc:
            raise BackendUnavailable(
                translations.gettext("the video server did not answer: %(error)s", error=exc)
            ) from exc
        self.start(index)
        try:
            return self._request(index, method, payload, timeout or self.timeout)
        except OSError as exc:
            raise BackendUnavailable(
                translations.gettext("the video server did not answer: %(error)s", error=exc)
            ) from exc

    def _request(self, index: int, method: str, params: dict[str, Any], timeout: float) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket_path(index)))
            sock.sendall(json.dumps({"method": method, "params": params}).encode() + b"\n")
            buffer = bytearray()
            while not buffer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionResetError("the SFU worker closed the connection")
                buffer += chunk
        reply = json.loads(buffer)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise WorkerError(
                error.get("code", "internal"),
                error.get("message", "SFU error"),
                error.get("values"),
            )
        return reply["result"]

    def ping(self, index: int) -> bool:
        try:
            self._request(index, "ping", {}, 2.0)
            return True
        except (OSError, ValueError, WorkerError):
            return False

    # Starting workers

    def command(self, index: int, *, exit_with_parent: bool = True) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "portal_native_sfu.worker",
            "--socket",
            str(self.socket_path(index)),
            "--lock",
            str(self.run_dir / f"sfu-{index:02d}.lock"),
            "--recording-dir",
            str(self.recording_dir),
        ]
        if exit_with_parent:
            cmd += ["--exit-with-parent", str(os.getpid())]
        return cmd + list(self.extra_args)

    def start(self, index: int) -> None:
        with self._lock:
            if self.ping(index):
                return
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.recording_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.run_dir / f"sfu-{index:02d}.log"
            with open(log_path, "ab") as log_file:
                child = subprocess.Popen(
                    self.command(index),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self._children.append(child)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self.ping(index):
                    return
                time.sleep(0.05)
            raise BackendUnavailable(
                translations.gettext(
                    "the video server (SFU worker) did not start; see %(log)s", log=log_path
                )
            )

    def start_all(self) -> None:
        for index in range(self.workers):
            self.start(index)

    def stop_started(self, timeout: float = 10.0) -> None:
        """Stop the workers this pool started (tests, `portal sfu serve` shutdown)."""
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(5)
        self._children.clear()


def pool_from_app(app: Any) -> WorkerPool:
    """The app's pool, built once from its config (SFU_* keys)."""
    pool = app.extensions.get("native_sfu.pool")
    if pool is None:
        instance = Path(app.instance_path)
        config = app.config
        run_dir = Path(config.get("SFU_RUN_DIR") or short_run_dir(instance / "sfu"))
        pool = WorkerPool(
            run_dir=run_dir,
            workers=int(config.get("SFU_WORKERS") or os.cpu_count() or 1),
            recording_dir=Path(config.get("SFU_RECORDING_DIR") or instance / "sfu-recordings"),
            autostart=bool(config.get("SFU_AUTOSTART", True)),
            timeout=float(config.get("SFU_TIMEOUT_SECONDS", 15)),
            extra_args=list(config.get("SFU_WORKER_ARGS", [])),
        )
        app.extensions["native_sfu.pool"] = pool
    return pool
