"""Configuration defaults. Every key can be overridden by a PORTAL_<KEY> environment variable."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path


def default_config(instance_path: str) -> dict:
    """Embedded defaults: SQLite in the instance folder, no Redis, in-process scheduler."""
    instance = Path(instance_path)
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'portal.sqlite3'}",
        "REDIS_URL": None,
        "SECRET_KEY": None,  # filled from instance/secret_key when unset
        "JWT_ACCESS_MINUTES": 30,
        "JWT_REFRESH_DAYS": 14,
        "COOKIE_SECURE": False,
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "STORAGE_DIR": str(instance / "files"),
        # File storage: "local" (STORAGE_DIR) or "s3" (boto3; S3_* below). See docs/content.md.
        "STORAGE": "local",
        "S3_BUCKET": None,
        "S3_ENDPOINT_URL": None,  # e.g. a MinIO / Ceph / moto URL; None = AWS
        "S3_REGION": None,
        "S3_ACCESS_KEY_ID": None,  # None = boto3's default credential chain
        "S3_SECRET_ACCESS_KEY": None,
        "S3_PREFIX": "",
        "FILE_LINK_SECONDS": 300,  # lifetime of download links (local signed or S3 presigned)
        "SLIDE_MAX_BYTES": 20 * 1024 * 1024,
        "SLIDE_MAX_PAGES": 500,
        "MEDIA_MAX_BYTES": 10 * 1024 * 1024,
        # Comma-separated MIME types accepted as class media, detected from the content.
        "MEDIA_ALLOWED_TYPES": "application/pdf,image/png,image/jpeg,image/gif,image/webp",
        # Students may enter a class room this many minutes before its start
        # (meetings.join_opens_at).
        "JOIN_OPENS_MINUTES": 10,
        "SCHOOL_NAME": "Demo School",
        "SCHOOL_TIMEZONE": "Europe/Paris",
        "BASE_URL": "http://127.0.0.1:5000",
        # Where pages open the live panel's Socket.IO connection; empty = the page's own
        # origin (`portal serve` answers /socket.io/ itself; nginx routes it in production).
        "REALTIME_URL": "",
        # Engine.IO heartbeat of the realtime server (docs/live.md): a ping per socket every
        # interval; a socket silent for interval + timeout is dropped. The timeout is long
        # so that a machine starved for a minute (a 09:00 rush) keeps its waiting pages.
        "REALTIME_PING_INTERVAL_SECONDS": 25,
        "REALTIME_PING_TIMEOUT_SECONDS": 60,
        # The most `class:join` (and, apart, room `join`) events the realtime server serves
        # in one transaction: joins arriving while a batch is served wait for the next one
        # (docs/live.md).
        "REALTIME_JOIN_BATCH": 200,
        # A room's presence changes within this window are announced once, with the list as
        # it is when sent (docs/live.md): 200 joins send a handful of lists, not 200. The
        # window is per 10 people in the room, up to the longest (a 100-student room: 3 s).
        "REALTIME_PRESENCE_COALESCE_SECONDS": 0.3,
        "REALTIME_PRESENCE_COALESCE_MOST_SECONDS": 3.0,
        # gc.set_threshold of the realtime process, which also freezes what start-up made
        # out of later collections (docs/live.md); empty keeps Python's own.
        "REALTIME_GC_THRESHOLDS": "50000,20,10",
        "PLUGINS": None,  # comma-separated allow-list of plugin names
        "DISABLE_PLUGINS": None,  # comma-separated deny-list
        "LOGIN_RATE_LIMIT": "10 per minute",
        # Per-account progressive delay after failed sign-ins (portal/core/login_guard.py).
        "LOGIN_LOCKOUT_THRESHOLD": 5,
        "LOGIN_LOCKOUT_BASE_SECONDS": 2,
        "LOGIN_LOCKOUT_MAX_SECONDS": 900,
        "LOGIN_LOCKOUT_WINDOW_SECONDS": 900,
        # Uploads (slides, media) one person may make per minute (portal/core/uploads.py).
        "UPLOAD_RATE_LIMIT": "30 per minute",
        "RUN_SCHEDULER": False,  # in-process periodic jobs (make run) instead of Celery beat
        "BACKEND_TIMEOUT_SECONDS": 10,
        "MEETING_START_WAIT_SECONDS": 15,
        "LOG_JSON": True,
        "PASSWORD_HASH_PROFILE": "default",
        # Reverse proxies in front of the portal whose X-Forwarded-* headers are trusted
        # (werkzeug ProxyFix: how many hops of each header). 0 = no proxy: the headers are
        # ignored, since any client could send them. With nginx alone in front: 1.
        "PROXY_FIX_X_FOR": 0,
        "PROXY_FIX_X_PROTO": 0,
        "PROXY_FIX_X_HOST": 0,
        "PROXY_FIX_X_PORT": 0,
        "PROXY_FIX_X_PREFIX": 0,
    }


def load_secret_key(instance_path: str) -> str:
    """A per-installation secret kept in the instance folder, so restarts keep sessions valid."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def derived_flask_settings(cfg: dict) -> dict:
    """Translate portal settings into the keys Flask and its extensions read."""
    return {
        "SQLALCHEMY_DATABASE_URI": cfg["DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(cfg["DATABASE_URL"]),
        "JWT_SECRET_KEY": cfg["SECRET_KEY"],
        "JWT_TOKEN_LOCATION": ["headers", "cookies"],
        "JWT_COOKIE_SECURE": bool(cfg["COOKIE_SECURE"]),
        "JWT_COOKIE_SAMESITE": "Lax",
        "JWT_COOKIE_CSRF_PROTECT": True,
        "JWT_CSRF_CHECK_FORM": True,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=int(cfg["JWT_ACCESS_MINUTES"])),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=int(cfg["JWT_REFRESH_DAYS"])),
        "JWT_REFRESH_COOKIE_PATH": "/api/auth/",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": bool(cfg["COOKIE_SECURE"]),
        "RATELIMIT_STORAGE_URI": cfg["REDIS_URL"] or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down must not take sign-in and uploads down with it: limits fall back to
        # per-process memory until it is back.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
    }


PROXY_FIX_HEADERS = ("for", "proto", "host", "port", "prefix")


def proxy_fix_hops(cfg: dict) -> dict[str, int]:
    """ProxyFix's arguments (x_for=..., ...) from PROXY_FIX_X_*; refuses what is not a count."""
    hops = {}
    for header in PROXY_FIX_HEADERS:
        key = f"PROXY_FIX_X_{header.upper()}"
        try:
            value = int(cfg.get(key) or 0)
        except (TypeError, ValueError):
            value = -1
        if value < 0:
            raise ValueError(
                f"PORTAL_{key} must be a number of trusted proxies (0 or more), not "
                f"{cfg.get(key)!r}"
            )
        hops[f"x_{header}"] = value
    return hops


def engine_options(database_url: str) -> dict:
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # No pre-ping: it was one extra round trip on every request (1 in 7 of a join's). After
    # a database restart the first request on a dead connection fails with a clear 503
    # (portal/errors.py) and SQLAlchemy then invalidates every pooled connection older than
    # the failure, so the next requests reconnect; recycling bounds a connection's age.
    return {"pool_pre_ping": False, "pool_size": 10, "max_overflow": 20, "pool_recycle": 1800}


# Raw Flask/extension keys a caller of create_app(config) may set directly (tests, embedding).
FLASK_OVERRIDABLE = {
    "TESTING",
    "SQLALCHEMY_DATABASE_URI",
    "SQLALCHEMY_ENGINE_OPTIONS",
    "RATELIMIT_ENABLED",
    "RATELIMIT_STORAGE_URI",
    "JWT_COOKIE_CSRF_PROTECT",
    "SERVER_NAME",
}
