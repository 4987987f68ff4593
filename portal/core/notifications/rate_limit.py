"""Messages per second per provider, so a burst of reminders stays within what an SMTP
relay or Twilio accepts.

One `ProviderRateLimiter` per app (in `app.extensions`), so two apps in one process (tests,
or a CLI command beside a server) never share windows. Shared by every worker through Redis
when REDIS_URL is set (one counter per provider per second), per process otherwise; a Redis
outage falls back to the per-process window rather than stop every reminder."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from portal.core import clock as portal_clock
from portal.core.notifications.states import setting
from portal.plugins.types import Notifier, RateLimitedNotifier

log = logging.getLogger(__name__)

EXTENSION_KEY = "portal.notify_rate_limiter"


def configured_limits() -> dict[str, float]:
    """NOTIFY_RATE_LIMITS ("smtp=14,twilio=1" or a mapping) as {provider: per second}."""
    raw = setting("NOTIFY_RATE_LIMITS") or ""
    if isinstance(raw, dict):
        return {str(k): float(v) for k, v in raw.items()}
    limits = {}
    for part in str(raw).split(","):
        if "=" in part:
            name, value = part.split("=", 1)
            limits[name.strip()] = float(value)
    return limits


class ProviderRateLimiter:
    def __init__(
        self, redis_url: str | None, clock: Callable[[], float] = portal_clock.time
    ) -> None:
        self.redis_url = redis_url
        # Injectable so tests step through windows instead of sleeping through them.
        self.clock = clock
        self._windows: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._redis: Any = None

    def wait(self, provider: str, limit: float) -> float:
        """Seconds to wait before `provider` may take another message (0: go now; the
        message is counted)."""
        now = self.clock()
        if self.redis_url:
            import redis

            second = int(now)
            key = f"portal:notify:rate:{provider}:{second}"
            try:
                with self._client(self.redis_url).pipeline() as pipe:
                    count, _ = pipe.incr(key).expire(key, 5).execute()
                return 0.0 if count <= limit else (second + 1 - now) + 0.01
            except redis.RedisError as exc:
                log.warning("rate limit counter unavailable (%s); limiting per process", exc)
        with self._lock:
            window = [t for t in self._windows.get(provider, []) if t > now - 1.0]
            self._windows[provider] = window
            if len(window) < limit:
                window.append(now)
                return 0.0
            return window[0] + 1.0 - now + 0.001

    def _client(self, redis_url: str) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(
                redis_url, socket_connect_timeout=2, socket_timeout=2
            )
        return self._redis


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = ProviderRateLimiter(app.config.get("REDIS_URL"))


def limiter() -> ProviderRateLimiter:
    return current_app.extensions[EXTENSION_KEY]


def rate_limit_wait(notifier: Notifier) -> float:
    """Seconds to wait before this notifier's provider may take another message (0: go
    now). The limit is NOTIFY_RATE_LIMITS for the provider, else the notifier's optional
    `rate_per_second`."""
    own = notifier.rate_per_second if isinstance(notifier, RateLimitedNotifier) else None
    limit = configured_limits().get(notifier.name, own)
    if not limit:
        return 0.0
    return limiter().wait(notifier.name, float(limit))
