"""Access to the loaded plugins from core services."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.plugins.manager import PluginRegistry, PortalPluginManager


def plugin_manager() -> PortalPluginManager:
    return current_app.extensions["portal.pm"]


def plugins() -> PluginRegistry:
    return current_app.extensions["portal.registry"]


def hook() -> Any:
    return plugin_manager().hook


def implemented(hook_name: str) -> bool:
    """Does any plugin implement this hook? Lets a hot path skip building the snapshot an
    event would carry when nobody listens (a join in a class-start rush)."""
    return bool(getattr(hook(), hook_name).get_hookimpls())
