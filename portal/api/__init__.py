"""The JSON REST API under /api."""

from __future__ import annotations

from flask import Blueprint, Flask

api = Blueprint("api", __name__, url_prefix="/api")


def init_api(app: Flask) -> None:
    from portal.api import (  # noqa: F401  (importing registers the routes)
        accounts,
        admin,
        auth,
        calendar,
        classes,
        content,
        docs,
        floor,
        invites,
        live,
        lobby,
        meetings,
        presentations,
        privacy,
        site_settings,
        users,
    )

    app.register_blueprint(api)
