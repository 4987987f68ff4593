"""Classroom portal: application factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

__version__ = "0.1.0"

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then PORTAL_* environment variables, then `config`."""
    from portal import config as portal_config
    from portal.extensions import db, jwt, limiter

    app = Flask(__name__, instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or None)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    from portal.api.converters import BoundedIntConverter

    # Before any route exists: ids beyond the database's integer range are "not found"
    # instead of an overflow error deep in the driver.
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.update(portal_config.default_config(app.instance_path))
    app.config.from_prefixed_env("PORTAL")
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = portal_config.load_secret_key(app.instance_path)
    app.config.update(portal_config.derived_flask_settings(app.config))
    app.config.update(
        {k: v for k, v in (config or {}).items() if k in portal_config.FLASK_OVERRIDABLE}
    )
    hops = portal_config.proxy_fix_hops(
        app.config
    )  # a bad value stops here, before anything starts

    from portal import cookie_session, i18n, logs

    cookie_session.init_cookie_session(app)
    logs.init_logging(app)
    i18n.init_i18n(app)

    db.init_app(app)
    from portal.core import unit_of_work

    unit_of_work.init_app(app)
    jwt.init_app(app)
    limiter.init_app(app)
    from portal import auth_setup, errors, plugin_setup, security_headers

    auth_setup.init_jwt(app)
    errors.init_error_handlers(app)
    security_headers.init_security_headers(app)
    plugin_setup.init_plugins(app)
    plugin_setup.init_migrations(app)

    from portal import realtime
    from portal.api import init_api
    from portal.ops import ops
    from portal.web import init_web

    init_api(app)
    realtime.init_realtime(app)
    app.register_blueprint(ops)
    init_web(app)
    plugin_setup.init_plugin_blueprints(app)
    i18n.attach_plugin_domains(app)

    from portal.api.notifications import api as notifications_api
    from portal.core import notifications
    from portal.web.unsubscribe import unsubscribe_bp

    notifications.init_app(app)
    app.register_blueprint(notifications_api)
    app.register_blueprint(unsubscribe_bp)

    from portal import tasks

    tasks.init_tasks(app)

    if any(hops.values()):
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outermost, so every request (pages, API, Socket.IO, rate limits, external URLs)
        # sees the client's address and scheme as the trusted proxies reported them.
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)  # type: ignore[method-assign]
    return app
