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
        scripts_i18n,
    )
    from portal.web.pages import web
    from portal.web.support import init_support

    init_support(app)
    app.jinja_env.globals["i18n_script_version"] = scripts_i18n.script_version
    app.register_blueprint(web)
