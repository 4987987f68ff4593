from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app

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


def plugin_migration_config(name: str, folder: str):
    """Alembic config for one plugin's own revisions: the core's env.py, the plugin's
    version folder, and its own version table, so its history never mixes with the core's."""
    config = bind_migrate(current_app).migrate.get_config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", folder)
    config.set_main_option("version_table", f"alembic_version_{name}")
    return config


def upgrade_plugins(revision: str = "head") -> None:
    """Apply every loaded plugin's migrations (after the core's)."""
    from alembic import command

    for name, folder in current_app.extensions["portal.registry"].migration_dirs:
        command.upgrade(plugin_migration_config(name, folder), revision)


def downgrade_plugins(revision: str = "base") -> None:
    """Undo the plugins' migrations (before the core's are undone)."""
    from alembic import command

    for name, folder in reversed(current_app.extensions["portal.registry"].migration_dirs):
        command.downgrade(plugin_migration_config(name, folder), revision)


def upgrade_database() -> None:
    """What `portal db upgrade` does: the core's migrations, then each plugin's."""
    from flask_migrate import upgrade

    bind_migrate(current_app)
    upgrade()
    upgrade_plugins()


def init_migrations(app: Flask) -> None:
    """Flask-Migrate for this app, bound on first use: importing it imports Alembic and Mako
    (~0.3 s CPU, a fifth of an app's start), which only migrations and the `db` commands need,
    while every worker, served portal and test builds an app. `app.extensions["migrate"]`
    and the `db` group stand in until then."""
    app.extensions["migrate"] = _DeferredMigrate(app)
    app.cli.add_command(_DeferredDbGroup(app))


def bind_migrate(app: Flask) -> Any:
    """Binds Flask-Migrate to `app` (once) and returns its `app.extensions["migrate"]`."""
    if isinstance(app.extensions.get("migrate"), _DeferredMigrate):
        from flask_migrate import Migrate

        from portal import MIGRATIONS_DIR
        from portal.extensions import db

        Migrate(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
        _extend_db_group(app)
    return app.extensions["migrate"]


class _DeferredMigrate:
    """`app.extensions["migrate"]` until Flask-Migrate is bound: any attribute read (by
    `flask_migrate.upgrade()`, migrations/env.py, ...) binds it and reads the real one."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy/pickle probes, and `_app` before __init__ ran
            raise AttributeError(name)
        return getattr(bind_migrate(self._app), name)


class _DeferredDbGroup(click.Group):
    """`db` until Flask-Migrate is bound: running any `db ...` binds it and hands the whole
    command line (its options, subcommands and help) to Flask-Migrate's group."""

    def __init__(self, app: Flask) -> None:
        super().__init__("db", help="Perform database migrations.")
        self._app = app

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        bind_migrate(self._app)
        group = self._app.cli.commands["db"]
        assert group is not self
        return group.make_context(info_name, args, parent, **extra)


def _extend_db_group(app: Flask) -> None:
    """`portal db upgrade` also applies the plugins' migrations; `portal db upgrade-plugins`
    only those (`flask db upgrade` alone would leave plugin tables out)."""
    from flask.cli import with_appcontext

    group = app.cli.commands.get("db")
    if not isinstance(group, click.Group) or "upgrade-plugins" in group.commands:
        return
    core_upgrade = group.commands["upgrade"]
    original = core_upgrade.callback
    if original is None:
        raise RuntimeError("`flask db upgrade` has no callback to extend with the plugins'")

    def upgrade_all(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not kwargs.get("sql"):
            upgrade_plugins()
        return result

    core_upgrade.callback = upgrade_all

    @group.command("upgrade-plugins")
    @with_appcontext
    def upgrade_plugins_command() -> None:
        """Apply the loaded plugins' own migrations."""
        upgrade_plugins()
        click.echo("plugin migrations applied")
