"""`portal sso ...`: let an administrator test the SSO without the main website."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import click
from flask import current_app
from flask.cli import with_appcontext

from portal_sso_insp.settings import load_settings
from portal_sso_insp.tokens import make_login_token


@click.group("sso")
def sso_group() -> None:
    """Single sign-on with the main website (insp)."""


@sso_group.command("make-token")
@click.option("--sub", "subject", required=True, help="the user's stable id on insp")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", default="student", show_default=True, help="role as insp names it")
@click.option("--phone", default=None)
@click.option("--next", "next_path", default=None, help="portal path to land on, e.g. /classes/3")
@click.option("--ttl", default=120, show_default=True, help="validity in seconds")
@click.option(
    "--private-key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="sign with RS256 using this PEM private key instead of the shared secret",
)
@click.option("--kid", default=None, help="key id to put in the header (JWKS setups)")
@click.option("--token-only", is_flag=True, help="print the token alone, not the login URL")
@with_appcontext
def make_token(
    subject: str,
    email: str,
    name: str,
    role: str,
    phone: str | None,
    next_path: str | None,
    ttl: int,
    private_key: str | None,
    kid: str | None,
    token_only: bool,
) -> None:
    """Print a one-time login URL signed exactly as insp must sign it."""
    settings = load_settings()
    if not settings.issuer:
        raise click.ClickException("set SSO_INSP_ISSUER (PORTAL_SSO_INSP_ISSUER) first")
    try:
        token = make_login_token(
            settings,
            subject=subject,
            email=email,
            name=name,
            role=role,
            phone=phone,
            ttl=ttl,
            private_key=Path(private_key).read_text() if private_key else None,
            kid=kid,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if token_only:
        click.echo(token)
        return
    params = {"token": token, **({"next": next_path} if next_path else {})}
    click.echo(f"{current_app.config['BASE_URL'].rstrip('/')}/sso/insp/login?{urlencode(params)}")
