"""Per-account brute-force defence for password sign-in: a progressive delay.

The per-IP rate limit (LOGIN_RATE_LIMIT) stops one machine; this stops many machines
guessing one account. After LOGIN_LOCKOUT_THRESHOLD failures inside LOGIN_LOCKOUT_WINDOW_SECONDS,
each further attempt must wait LOGIN_LOCKOUT_BASE_SECONDS * 2**(failures - threshold)
seconds (capped at LOGIN_LOCKOUT_MAX_SECONDS) after the last failure; attempts inside the
wait are refused with 429 before the password is even checked, so a locked account cannot
be probed. The request is never made to sleep (a sleeping worker would be the attacker's
denial of service). A success clears the count.

Counts are shared through Redis when REDIS_URL is set (every worker sees them) and kept in
process memory otherwise, or when Redis is unreachable (sign-in keeps working).
Unknown emails are counted exactly like real ones, so the answers reveal nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from flask import current_app

from portal.core import clock as portal_clock
from portal.core.errors import TooManyRequests
from portal.i18n import ngettext

log = logging.getLogger("portal.login_guard")

# The portal's clock (tests freeze and step it); a test may also replace this name.
clock = portal_clock.time


def _settings() -> tuple[int, float, float, float]:
    cfg = current_app.config
    return (
        int(cfg.get("LOGIN_LOCKOUT_THRESHOLD", 5)),
        float(cfg.get("LOGIN_LOCKOUT_BASE_SECONDS", 2)),
        float(cfg.get("LOGIN_LOCKOUT_MAX_SECONDS", 900)),
        float(cfg.get("LOGIN_LOCKOUT_WINDOW_SECONDS", 900)),
    )


def _key(email: str) -> str:
    # Hashed: the Redis keyspace must not become a list of the school's email addresses.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class _Memory:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, tuple[int, float]] = {}


def _memory() -> _Memory:
    store = current_app.extensions.get("portal.login_guard")
    if store is None:
        store = current_app.extensions.setdefault("portal.login_guard", _Memory())
    return store


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("portal.login_guard_redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
        current_app.extensions["portal.login_guard_redis"] = client
    return client


def _redis_key(key: str) -> str:
    return f"{current_app.config.get('SOCKETIO_CHANNEL') or 'portal-live'}:login-fail:{key}"


def _read(key: str) -> tuple[int, float]:
    client = _redis()
    if client is not None:
        try:
            row = client.hgetall(_redis_key(key))
            return int(row.get("n", 0)), float(row.get("last", 0))
        except Exception as exc:  # Redis down: fall back to this process's memory
            log.warning("login guard: Redis unavailable, using memory (%s)", type(exc).__name__)
    memory = _memory()
    with memory.lock:
        return memory.rows.get(key, (0, 0.0))


def _write_failure(key: str, window: float) -> None:
    now = clock()
    client = _redis()
    if client is not None:
        try:
            name = _redis_key(key)
            pipe = client.pipeline()
            pipe.hincrby(name, "n", 1)
            pipe.hset(name, "last", repr(now))
            pipe.expire(name, int(window) + 1)
            pipe.execute()
            return
        except Exception as exc:
            log.warning("login guard: Redis unavailable, using memory (%s)", type(exc).__name__)
    memory = _memory()
    with memory.lock:
        count, last = memory.rows.get(key, (0, 0.0))
        if now - last > window:
            count = 0
        memory.rows[key] = (count + 1, now)
        if len(memory.rows) > 100_000:  # bounded: forget the oldest entries
            for old in sorted(memory.rows, key=lambda k: memory.rows[k][1])[:10_000]:
                memory.rows.pop(old, None)


def wait_seconds(email: str) -> float:
    """How long this account must still wait before the next attempt (0: go ahead)."""
    threshold, base, cap, window = _settings()
    count, last = _read(_key(email))
    now = clock()
    if count < threshold or now - last > window:
        return 0.0
    delay = min(cap, base * 2 ** (count - threshold))
    return max(0.0, last + delay - now)


def check(email: str) -> None:
    remaining = wait_seconds(email)
    if remaining > 0:
        seconds = int(remaining) + 1
        raise TooManyRequests(
            ngettext(
                "too many failed sign-ins for this account; try again in %(num)d second",
                "too many failed sign-ins for this account; try again in %(num)d seconds",
                seconds,
            ),
            code="login_locked",
            retry_after=seconds,
        )


def record_failure(email: str) -> None:
    _write_failure(_key(email), _settings()[3])


def record_success(email: str) -> None:
    key = _key(email)
    client = _redis()
    if client is not None:
        try:
            client.delete(_redis_key(key))
        except Exception as exc:
            log.warning("login guard: Redis unavailable, using memory (%s)", type(exc).__name__)
    memory = _memory()
    with memory.lock:
        memory.rows.pop(key, None)
