"""Liveness and readiness probes, and signed file downloads."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, jsonify, request, send_file
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
    """A signed local download. Answers Range requests (206) so the page's video player
    can seek without fetching the whole file."""
    key, filename = storage.resolve_download_token(token)
    name = filename or key.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    safe_name = "".join(ch for ch in name if ch.isalnum() or ch in "._- ")[:100] or "download"
    path = storage.local_path(key)
    if path is not None:
        return send_file(
            path,
            mimetype=content_type,
            as_attachment=True,
            download_name=safe_name,
            conditional=True,
            max_age=0,
        )
    data = storage.read_bytes(key)
    response = Response(data, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    return response.make_conditional(request, accept_ranges=True, complete_length=len(data))
