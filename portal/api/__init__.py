"""The JSON REST API under /api."""

from __future__ import annotations

from flask import Blueprint, Flask

api = Blueprint("api", __name__, url_prefix="/api")


def init_api(app: Flask) -> None:
    from portal.api import admin, auth, classes, docs, meetings, site_settings, users  # noqa: F401  (registers routes)

    app.register_blueprint(api)
