"""Loading plugins: built-ins, then the `portal` entry-point group, filtered by allow/deny lists."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy

from portal.plugins import hookspecs
from portal.plugins.types import AdminPage, AuthProvider, MeetingBackend, Notifier, PeriodicJob

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "portal"
BUILTIN_MODULES = ("portal.core.outbox",)
OPENAPI_PATH_ITEM_KEYS = {
    "summary",
    "description",
    "parameters",
    "servers",
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "trace",
}


class PortalPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers each entry-point plugin's distribution version."""

    def __init__(self) -> None:
        super().__init__("portal")
        self.versions: dict[str, str] = {}


class PluginConfigurationError(RuntimeError):
    """Two plugins claim the same name, or a plugin registered something malformed."""


def _split(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {part.strip() for part in value.split(",") if part.strip()}
    return set(value)


def make_plugin_manager(
    load_entrypoints: bool = True,
    allow: str | Iterable[str] | None = None,
    deny: str | Iterable[str] | None = None,
    extra_plugins: Iterable[Any] = (),
) -> PortalPluginManager:
    """Build the plugin manager.

    `allow` (PORTAL_PLUGINS) keeps only the named plugins; `deny` (PORTAL_DISABLE_PLUGINS)
    drops the named ones. Names are entry-point names, or the module name for built-ins.
    """
    allowed = _split(allow)
    denied = _split(deny) or set()

    def wanted(name: str) -> bool:
        return name not in denied and (allowed is None or name in allowed)

    pm = PortalPluginManager()
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_MODULES:
        short = module_name.rsplit(".", 1)[-1]
        if wanted(short):
            pm.register(importlib.import_module(module_name), name=short)
    if load_entrypoints:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if not wanted(ep.name) or pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception:
                # One broken plugin must not take the whole portal down.
                log.exception("plugin %s failed to load", ep.name)
                continue
            pm.register(plugin, name=ep.name)
            if ep.dist is not None:
                pm.versions[ep.name] = ep.dist.version
    for plugin in extra_plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if wanted(name):
            pm.register(plugin, name=name)
    pm.check_pending()
    return pm


@dataclass
class PluginRegistry:
    """What the loaded plugins registered, looked up by name."""

    backends: dict[str, MeetingBackend] = field(default_factory=dict)
    notifiers: dict[str, list[Notifier]] = field(default_factory=dict)  # by channel
    auth_providers: dict[str, AuthProvider] = field(default_factory=dict)
    periodic_jobs: dict[str, PeriodicJob] = field(default_factory=dict)
    api_paths: dict[str, dict[str, Any]] = field(default_factory=dict)  # OpenAPI path -> Path Item
    # (plugin name, folder of its Alembic revisions), applied by `portal db upgrade`.
    migration_dirs: list[tuple[str, str]] = field(default_factory=list)
    admin_pages: list[AdminPage] = field(default_factory=list)  # linked from /admin

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> PluginRegistry:
        registry = cls()

        def add_backend(backend: MeetingBackend) -> None:
            if not isinstance(backend, MeetingBackend):
                raise PluginConfigurationError(f"{backend!r} does not implement MeetingBackend")
            if backend.name in registry.backends:
                raise PluginConfigurationError(f"two meeting backends named {backend.name!r}")
            registry.backends[backend.name] = backend

        def add_notifier(notifier: Notifier) -> None:
            if not isinstance(notifier, Notifier):
                raise PluginConfigurationError(f"{notifier!r} does not implement Notifier")
            registry.notifiers.setdefault(notifier.channel, []).append(notifier)

        def add_auth_provider(provider: AuthProvider) -> None:
            if not isinstance(provider, AuthProvider):
                raise PluginConfigurationError(f"{provider!r} does not implement AuthProvider")
            if provider.name in registry.auth_providers:
                raise PluginConfigurationError(f"two auth providers named {provider.name!r}")
            registry.auth_providers[provider.name] = provider

        def add_job(job: PeriodicJob) -> None:
            if job.name in registry.periodic_jobs:
                raise PluginConfigurationError(f"two periodic jobs named {job.name!r}")
            registry.periodic_jobs[job.name] = job

        def add_api_path(path: str, item: dict[str, Any]) -> None:
            if not path.startswith("/") or not isinstance(item, dict):
                raise PluginConfigurationError(
                    f"API path {path!r}: give an absolute path and an OpenAPI Path Item dict"
                )
            unknown = set(item) - OPENAPI_PATH_ITEM_KEYS
            if unknown:
                raise PluginConfigurationError(
                    f"API path {path!r}: not OpenAPI Path Item fields: {sorted(unknown)}"
                )
            if path in registry.api_paths:
                raise PluginConfigurationError(f"two plugins describe the API path {path!r}")
            registry.api_paths[path] = item

        def add_migrations(name: str, path: str | os.PathLike[str]) -> None:
            folder = Path(path).resolve()
            if not folder.is_dir():
                raise PluginConfigurationError(f"migrations folder {folder} does not exist")
            if not name.isidentifier() or any(
                name == known for known, _ in registry.migration_dirs
            ):
                raise PluginConfigurationError(
                    f"migrations named {name!r}: not an identifier, or taken"
                )
            registry.migration_dirs.append((name, str(folder)))

        def add_admin_page(page: AdminPage) -> None:
            if not isinstance(page, AdminPage):
                raise PluginConfigurationError(f"{page!r} is not an AdminPage")
            if any(known.endpoint == page.endpoint for known in registry.admin_pages):
                raise PluginConfigurationError(f"two admin pages at {page.endpoint!r}")
            registry.admin_pages.append(page)

        pm.hook.register_meeting_backends(register=add_backend)
        pm.hook.register_notifiers(register=add_notifier)
        pm.hook.register_auth_providers(register=add_auth_provider)
        pm.hook.register_periodic_jobs(register=add_job)
        pm.hook.register_api_paths(register=add_api_path)
        pm.hook.register_migrations(register=add_migrations)
        pm.hook.register_admin_pages(register=add_admin_page)
        return registry


def describe_plugins(pm: PortalPluginManager) -> list[dict[str, Any]]:
    """Name, version and implemented hooks of each loaded plugin (for `portal plugins`)."""
    from portal import __version__

    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "version": pm.versions.get(name, __version__), "hooks": hooks})
    return rows
