from __future__ import annotations

from flask import Flask

from portal.plugins.manager import PluginRegistry, make_plugin_manager


def init_plugins(app: Flask) -> None:
    pm = make_plugin_manager(
        load_entrypoints=app.config.get("LOAD_ENTRYPOINTS", True),
        allow=app.config.get("PLUGINS"),
        deny=app.config.get("DISABLE_PLUGINS"),
        extra_plugins=app.config.get("EXTRA_PLUGINS", ()),
    )
    app.extensions["portal.pm"] = pm
    app.extensions["portal.registry"] = PluginRegistry.collect(pm)


def init_plugin_blueprints(app: Flask) -> None:
    app.extensions["portal.pm"].hook.register_blueprints(app=app)
