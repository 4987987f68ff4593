"""A real python-socketio client for the live panel tests, recording every event it gets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import socketio

TIMEOUT = 10.0


class LiveClient:
    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        origin: str = "http://127.0.0.1:5000",
        name: str = "client",
    ):
        self.url = url
        self.token = token
        self.name = name
        self.events: list[tuple[str, Any]] = []
        self.connect_error: Any = None
        self._cond = threading.Condition()
        # A browser on the portal's page sends the portal's origin; so do we.
        self.sio = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._on_connect_error)

    def _record(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((event, data))
            self._cond.notify_all()

    def _on_connect_error(self, data: Any = None) -> None:
        self.connect_error = data

    def connect(self, **kw: Any) -> LiveClient:
        auth = {"token": self.token} if self.token is not None else None
        self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=TIMEOUT, **kw)
        return self

    def call(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.sio.call(event, data or {}, timeout=TIMEOUT)

    def join(self, schedule_id: int, **kw: Any) -> dict[str, Any]:
        return self.call("join", {"schedule_id": schedule_id, **kw})

    def of(self, event: str) -> list[Any]:
        with self._cond:
            return [data for name, data in self.events if name == event]

    def wait_for(
        self,
        event: str,
        predicate: Callable[[Any], bool] = lambda _d: True,
        timeout: float = TIMEOUT,
        *,
        skip: int = 0,
    ) -> Any:
        """The first recorded `event` whose data satisfies predicate (waiting for it), after
        the first `skip` of that event."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [data for name, data in self.events if name == event]
                for data in found[skip:]:
                    if predicate(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.name} never got {event!r}; got {[n for n, _ in self.events]}"
                    )
                self._cond.wait(remaining)

    def wait_count(self, event: str, count: int, timeout: float = TIMEOUT) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [data for name, data in self.events if name == event]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.name} got {len(found)} {event!r}, expected {count}"
                    )
                self._cond.wait(remaining)

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


def close_all(clients: list[LiveClient]) -> None:
    """Close in parallel: websocket-client waits up to 3 s for each close handshake."""
    threads = [threading.Thread(target=c.close) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
