"""Server-rendered pages."""

from __future__ import annotations

from flask import Flask


def init_web(app: Flask) -> None:
    from portal.web.pages import web

    app.register_blueprint(web)
