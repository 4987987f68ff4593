"""`portal jitsi prosody-config NAME`: the deployment settings a backend configuration expects."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from . import tokens


def prosody_config(settings: dict, portal_url: str) -> str:
    """The prosody, jicofo and Jibri settings matching a self-hosted configuration."""
    domain = tokens.xmpp_domain(settings)
    muc = tokens.muc_domain(settings)
    issuer = str(settings.get("issuer") or settings["app_id"])
    audience = str(settings.get("audience") or "jitsi")
    portal_url = portal_url.rstrip("/")
    lines = [
        f"-- /etc/prosody/conf.d/{domain}.cfg.lua",
        f'asap_accepted_issuers = {{ "{issuer}" }}',
        f'asap_accepted_audiences = {{ "{audience}" }}',
        "-- tokens' sub is this XMPP domain, so domain verification may stay on",
        "enable_domain_verification = true",
        "",
        f'VirtualHost "{domain}"',
        '    authentication = "token"',
        f'    app_id = "{settings["app_id"]}"',
        f'    app_secret = "{settings.get("app_secret") or "<app_secret>"}"',
        "    allow_empty_token = false",
        "",
        f'Component "{muc}" "muc"',
        '    modules_enabled = { "token_verification"; "token_affiliation"; }',
        "",
        f'Component "event_sync.{domain}" "event_sync_component"',
        f'    muc_component = "{muc}"',
        f'    breakout_component = "breakout.{domain}"',
        f'    api_prefix = "{portal_url}/plugins/jitsi"',
        f'    api_headers = {{ ["Authorization"] = "Bearer '
        f'{settings.get("events_token") or "<events_token>"}" }}',
        "",
        "# jicofo: moderators come from the token (token_affiliation), not from arrival order",
        "hocon -f /etc/jitsi/jicofo/jicofo.conf set jicofo.conference.enable-auto-owner false",
        "",
        "# Jibri: /etc/jitsi/jibri/portal-upload.env for the finalize script (docs/jitsi.md)",
        f"PORTAL_URL={portal_url}",
        "PORTAL_UPLOAD_TOKEN="
        + (settings.get("recording_upload_token") or "<recording_upload_token>"),
    ]
    return "\n".join(lines) + "\n"


def register(cli) -> None:
    @cli.group("jitsi")
    def jitsi_group() -> None:
        """Jitsi Meet backend helpers."""

    @jitsi_group.command("prosody-config")
    @click.argument("name")
    @with_appcontext
    def prosody_config_command(name: str) -> None:
        """Print the prosody/jicofo/Jibri settings for the Jitsi backend configuration NAME.

        The output contains secrets: keep it out of logs and tickets."""
        from portal.plugins import services

        found = services.find_backend_config("jitsi", name)
        if found is None:
            raise click.ClickException(f"no enabled Jitsi backend configuration is named {name!r}")
        _, settings = found
        if tokens.is_jaas(settings):
            raise click.ClickException(
                "this configuration uses 8x8 JaaS: there is no prosody to configure "
                "(see docs/jitsi.md, section 8x8 JaaS)"
            )
        click.echo(prosody_config(settings, current_app.config["BASE_URL"]), nl=False)
