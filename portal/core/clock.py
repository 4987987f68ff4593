"""The portal's one clock: every rule that reads the time (due reminders, leases, lockouts,
rate-limit windows, token cutoffs) asks this module, so tests can freeze and step time
instead of sleeping through it.

Production reads the system clock. A test installs a source with `use()` (the test suite's
`clock` fixture does it) and gets the system clock back with `reset()`. Time read by
libraries on their own (PyJWT's expiry check, Celery's beat) is not covered: tests of those
still wait for real seconds, or for the other process to report work done. Deadlines of
loops that wait for another thread or process (time.monotonic) stay on the real clock: a
frozen clock would make them wait for ever."""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime
from typing import Protocol


class TimeSource(Protocol):
    """What a clock gives: wall-clock seconds since the epoch."""

    def time(self) -> float: ...


class SystemTime:
    """The real clock of this machine."""

    def time(self) -> float:
        return _time.time()


SYSTEM = SystemTime()
_source: TimeSource = SYSTEM


def use(source: TimeSource) -> None:
    """Read the time from `source` from now on (process-wide: every thread sees it)."""
    global _source
    _source = source


def reset() -> None:
    """Back to the system clock."""
    use(SYSTEM)


def time() -> float:
    """Seconds since the epoch, like `time.time()`."""
    return _source.time()


def now() -> datetime:
    """The current instant as an aware UTC datetime."""
    return datetime.fromtimestamp(_source.time(), UTC)
