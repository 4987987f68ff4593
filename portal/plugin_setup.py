from __future__ import annotations

from typing import Any

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
    migrate = current_app.extensions["migrate"].migrate
    config = migrate.get_config()
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

    upgrade()
    upgrade_plugins()


def init_migration_commands(app: Flask) -> None:
    """`portal db upgrade` also applies the plugins' migrations; `portal db upgrade-plugins`
    only those (`flask db upgrade` alone would leave plugin tables out)."""
    import click
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
