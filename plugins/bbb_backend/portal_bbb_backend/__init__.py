"""BigBlueButton meeting backend: a BBB server, or a Scalelite / bbblb pool behind one URL +
secret."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.plugins import PeriodicJob, PortalError, hookimpl, services

from .backend import BACKEND, BBBBackend
from .client import BBBClient, BBBError, BBBUnavailable

__all__ = ["BACKEND", "BBBBackend", "BBBClient", "BBBError", "BBBUnavailable"]

SYNC_EVERY_SECONDS = 60


@hookimpl
def register_meeting_backends(register) -> None:
    register(BACKEND)


@hookimpl
def register_blueprints(app) -> None:
    from .callbacks import bp

    app.register_blueprint(bp)


def _sync_job() -> object:
    from .sync import sync_all

    return sync_all()


@hookimpl
def register_periodic_jobs(register) -> None:
    register(PeriodicJob("bbb-sync", SYNC_EVERY_SECONDS, _sync_job))


@click.group("bbb")
def bbb_group() -> None:
    """BigBlueButton / Scalelite / bbblb backend."""


@bbb_group.command("add")
@click.option("--name", required=True, help="Name admins and teachers see, e.g. 'BBB Science'")
@click.option(
    "--url", required=True, help="API URL, e.g. https://bbb.example.org/bigbluebutton/api/"
)
@click.option("--secret", required=True, prompt=True, hide_input=True, help="Shared secret")
@click.option(
    "--algorithm", type=click.Choice(["sha1", "sha256", "sha384", "sha512"]), default="sha256"
)
@click.option(
    "--default", "is_default", is_flag=True, help="Make it the default backend for new classes"
)
@click.option(
    "--admin",
    "admin_email",
    required=True,
    help="E-mail of the admin account doing this (audit log)",
)
@with_appcontext
def bbb_add(
    name: str, url: str, secret: str, algorithm: str, is_default: bool, admin_email: str
) -> None:
    """Configure a BBB endpoint and test the connection."""
    try:
        with services.unit_of_work():
            config_id = services.create_backend_config(
                admin_email,
                name=name,
                backend=BACKEND.name,
                is_default=is_default,
                settings={"url": url, "secret": secret, "checksum_algorithm": algorithm},
            )
    except PortalError as exc:
        raise click.ClickException(exc.message) from exc
    with services.unit_of_work():
        result = services.check_health(config_id)
    click.echo(
        f"backend configuration {config_id} created; test: {'OK' if result.ok else 'FAILED'}: "
        f"{result.message}"
    )


@bbb_group.command("sync")
@with_appcontext
def bbb_sync() -> None:
    """Reconcile meeting status, attendance and recordings with BBB now."""
    from .sync import sync_all

    with services.unit_of_work():
        outcome = sync_all()
    click.echo(", ".join(f"{k}={v}" for k, v in sorted(outcome.items())) or "no BBB meetings")


@hookimpl
def register_commands(cli) -> None:
    cli.add_command(bbb_group)
