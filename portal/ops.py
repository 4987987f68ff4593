"""Liveness and readiness probes, and signed file downloads."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from portal.core import storage
from portal.core.backends import enabled_configs
from portal.extensions import db

ops = Blueprint("files", __name__)


@ops.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@ops.get("/readyz")
def readyz():
    checks: dict[str, object] = {}
    ready = True
    try:
        db.session.execute(text("select 1"))
        checks["database"] = "ok"
    except Exception:
        db.session.rollback()
        checks["database"] = "unreachable"
        ready = False
    if ready:
        checks["backends"] = [
            {
                "name": c.name,
                "backend": c.backend,
                "ok": c.health_ok,
                "message": c.health_message,
                "checked_at": c.health_checked_at.isoformat() if c.health_checked_at else None,
            }
            for c in enabled_configs()
        ]
    return jsonify(
        {"status": "ready" if ready else "not_ready", "checks": checks}
    ), 200 if ready else 503


@ops.get("/files/<token>")
def download(token: str):
    key, filename = storage.resolve_download_token(token)
    data = storage.read_bytes(key)
    name = filename or key.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = Response(data, content_type=content_type)
    safe_name = "".join(ch for ch in name if ch.isalnum() or ch in "._- ")[:100] or "download"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    return response
