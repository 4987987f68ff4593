"""Server-rendered pages."""

from __future__ import annotations

from flask import Flask


def init_web(app: Flask) -> None:
    from portal.web import (  # noqa: F401  (register pages)
        account_pages,
        admin_pages,
        classes_pages,
        dashboard,
        guest_pages,
        privacy_pages,
        profile,
        recording_pages,
        room,
    )
    from portal.web.pages import web
    from portal.web.support import init_support

    init_support(app)
    app.register_blueprint(web)
