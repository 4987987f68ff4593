"""The `portal` command line (a Flask CLI group: `portal db upgrade`, `portal run`, ...)."""

from __future__ import annotations

import json
import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from portal import create_app
from portal.current import current_flask_app
from portal.i18n import _, role_name, site_locale, speaking


def _site_language():
    """The commands' summaries are for the school's staff: in the school's default language."""
    return speaking(site_locale())


def _make_app(*_args, **_kwargs):
    app = create_app()
    _register_commands(app)
    return app


@click.group(cls=FlaskGroup, create_app=_make_app, add_version_option=False)
def main() -> None:
    """Classroom portal administration."""


def _register_commands(app) -> None:
    app.cli.add_command(plugins_command)
    app.cli.add_command(users_group)
    app.cli.add_command(backends_group)
    app.cli.add_command(demo_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(realtime_command)
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)
    app.extensions["portal.pm"].hook.register_commands(cli=app.cli)


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@with_appcontext
def plugins_command(as_json: bool) -> None:
    """List loaded plugins with their version and the hooks they implement."""
    from portal.plugins.manager import describe_plugins

    rows = describe_plugins(current_app.extensions["portal.pm"])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['version'] or '-':<10} {', '.join(row['hooks'])}")


@click.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "teacher", "student"]), default="student")
@click.option("--phone", default=None)
@click.option("--password", default=None, help="prompted for when omitted")
@with_appcontext
def users_create(email: str, name: str, role: str, phone: str | None, password: str | None) -> None:
    """Create a user with a password."""
    from portal.core import unit_of_work, users
    from portal.core.errors import PortalError
    from portal.extensions import db

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(
            None, email=email, name=name, role=role, password=password, phone=phone
        )
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    with _site_language():
        click.echo(
            _(
                "created %(role)s %(email)s (id %(id)s)",
                role=role_name(user.role),
                email=user.email,
                id=user.id,
            )
        )


@click.group("backends")
def backends_group() -> None:
    """Meeting backend configurations."""


@backends_group.command("list")
@with_appcontext
def backends_list() -> None:
    from portal.core.models import BackendConfig
    from portal.extensions import db

    for config in db.session.execute(db.select(BackendConfig).order_by(BackendConfig.id)).scalars():
        state = "enabled" if config.enabled else "disabled"
        default = " default" if config.is_default else ""
        click.echo(
            f"{config.id:>3} {config.name:<24} {config.backend:<14} {state}{default} "
            f"health={config.health_ok}"
        )


@backends_group.command("test")
@click.argument("config_id", type=int)
@with_appcontext
def backends_test(config_id: int) -> None:
    from portal.core import backends, unit_of_work
    from portal.core.models import BackendConfig
    from portal.extensions import db

    config = db.session.get(BackendConfig, config_id)
    if config is None:
        raise click.ClickException("no such backend configuration")
    result = backends.check_health(config)
    unit_of_work.commit()
    click.echo(
        f"{'OK' if result.ok else 'FAILED'}: {result.message} (version {result.version or '?'})"
    )
    if not result.ok:
        sys.exit(1)


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed a demo school if the database is empty, and print its logins."""
    from portal.core import demo, unit_of_work

    created = demo.seed_if_empty()
    unit_of_work.commit()  # the command owns the transaction: the service does not commit
    with _site_language():
        click.echo(demo.describe_logins(created))


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Serve with the embedded defaults: pages, API and the live panel's realtime server on
    one port (one asyncio process; no Redis needed), with in-process periodic jobs."""
    from portal import realtime_server, tasks

    app = current_flask_app()
    if "portal.scheduler" not in app.extensions:
        scheduler = tasks.InProcessScheduler(app)
        app.extensions["portal.scheduler"] = scheduler
        scheduler.start()
    base = f"http://{host}:{port}"
    queue = app.config.get("REDIS_URL") or "none (in-process hand-over)"
    click.echo(
        f"Serving the portal on {base}/\n"
        f"  pages and API:           {base}/  (Flask, in a thread pool)\n"
        f"  live panel (Socket.IO):  {base}/socket.io/  (same process, asyncio)\n"
        f"  Redis message queue:     {queue}\n"
        f"  database:                {app.config['DATABASE_URL']}\n"
        f"  periodic jobs:           in this process"
    )
    realtime_server.serve(app, host, port, with_web=True)


@click.command("realtime")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5001, type=int)
@click.option(
    "--with-web/--no-web",
    default=False,
    help="also serve the pages and API on the same port (as `portal serve`)",
)
@with_appcontext
def realtime_command(host: str, port: int, with_web: bool) -> None:
    """Run the live panel's realtime (Socket.IO) server: an asyncio process holding the
    sockets, beside Flask workers (gunicorn) that publish to it through PORTAL_REDIS_URL."""
    from portal import realtime_server

    app = current_flask_app()
    if not app.config.get("REDIS_URL") and not with_web:
        click.echo(
            "warning: PORTAL_REDIS_URL is not set: only events of this process reach its sockets; "
            "use `portal serve` for the embedded single-process mode",
            err=True,
        )
    click.echo(
        f"Realtime server on http://{host}:{port}/socket.io/ (message queue: "
        f"{app.config.get('REDIS_URL') or 'none'})"
    )
    realtime_server.serve(app, host, port, with_web=with_web)


@click.command("worker", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker (needs PORTAL_REDIS_URL)."""
    _celery("worker", celery_args)


@click.command("beat", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat_command(celery_args: tuple[str, ...]) -> None:
    """Run Celery beat, which schedules the periodic jobs (needs PORTAL_REDIS_URL)."""
    _celery("beat", celery_args)


def _celery(kind: str, args: tuple[str, ...]) -> None:
    if not os.environ.get("PORTAL_REDIS_URL"):
        raise click.ClickException("set PORTAL_REDIS_URL (e.g. redis://127.0.0.1:6379/0) first")
    # Celery runs in this very process (what `python -m celery` does): no idle parent waits
    # beside it, a signal sent to `portal worker` reaches the worker itself, and no second
    # interpreter starts and imports again what this one has (~0.5 s CPU a start).
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", "-A", "portal.celery_app", kind, "--loglevel", "INFO", *args]
    celery_main()


# On the group itself, not the app's commands: they only start Celery, which builds its
# own app (portal/celery_app.py), so `portal worker` and `portal beat` build none first.
main.add_command(worker_command)
main.add_command(beat_command)


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def export_command(path: str) -> None:
    """Write every table's rows to PATH (NDJSON; gzip if PATH ends in .gz). See docs/SECURITY.md."""
    from portal.core import backup

    rows = backup.export_to(path)
    with _site_language():
        click.echo(
            _(
                "exported %(rows)s rows from %(tables)s tables to %(path)s",
                rows=sum(rows.values()),
                tables=len(rows),
                path=path,
            )
        )


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(path: str) -> None:
    """Load a `portal export` file into this EMPTY, migrated database (all or nothing)."""
    from portal.core import backup, unit_of_work
    from portal.core.errors import PortalError
    from portal.extensions import db

    try:
        rows = backup.import_from(path)
        unit_of_work.commit()
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    with _site_language():
        click.echo(
            _(
                "imported %(rows)s rows into %(tables)s tables from %(path)s",
                rows=sum(rows.values()),
                tables=len(rows),
                path=path,
            )
        )


if __name__ == "__main__":
    main()
