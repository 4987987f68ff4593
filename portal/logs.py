"""Structured (JSON) logs with a request id on every line; secrets are never logged."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, g, has_request_context, request

# Anything that looks like a credential in a log line is replaced before it is written.
SECRET_PATTERNS = [
    re.compile(
        r"(?i)(password|secret|token|checksum|jwt|authorization|api[_-]?key)([\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]+)"
    ),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
]


def redact(text: str) -> str:
    text = SECRET_PATTERNS[0].sub(lambda m: m.group(1) + m.group(2) + "[redacted]", text)
    return SECRET_PATTERNS[1].sub("[redacted-jwt]", text)


def _install_redacting_record_factory() -> None:
    """Redact every log record at creation, whatever logger or handler it goes to
    (third-party libraries log URLs that may carry checksums or tokens)."""
    previous = logging.getLogRecordFactory()
    if isinstance(previous, _RedactingRecordFactory):
        return
    logging.setLogRecordFactory(_RedactingRecordFactory(previous))


class _RedactingRecordFactory:
    """Wraps the record factory it replaces; its type marks it as installed (once per process)."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; leave it as is
            return record
        record.msg, record.args = redact(message), ()
        record.portal_redacted = True  # the formatters need not redact the message again
        return record


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def _redacted_message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    return message if getattr(record, "portal_redacted", False) else redact(message)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": _redacted_message(record),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _loggable_path() -> str:
    """The path with capability tokens in it (calendar feeds, signed downloads) masked."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if "token" in name and isinstance(value, str) and value:
            path = path.replace(value, "[redacted]")
    return path


def init_logging(app: Flask) -> None:
    _install_redacting_record_factory()
    root = logging.getLogger("portal")
    if not any(isinstance(h.formatter, JsonFormatter | TextFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        if app.config.get("LOG_JSON"):
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(
                TextFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
            )
        handler.addFilter(RequestContextFilter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = True  # pytest's caplog and embedding apps still see the records
    access_log = logging.getLogger("portal.access")

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = (
            incoming if re.fullmatch(r"[A-Za-z0-9._-]{8,64}", incoming) else uuid.uuid4().hex
        )
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.path not in ("/healthz",):
            elapsed = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
            # The path only: query strings can carry tokens (SSO, calendar feeds).
            access_log.info(
                "%s %s %s %.1fms", request.method, _loggable_path(), response.status_code, elapsed
            )
        return response
