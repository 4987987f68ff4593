"""A minimal third-party plugin: a notifier on the "hello" channel and a CLI command."""

import click

from portal.plugins import DeliveryResult, hookimpl

DELIVERED = []


class HelloNotifier:
    channel = "hello"
    name = "hello"

    def send(self, message):
        DELIVERED.append(message)
        return DeliveryResult(status="sent", provider_id=f"hello-{len(DELIVERED)}")


@hookimpl
def register_notifiers(register):
    register(HelloNotifier())


@hookimpl
def register_commands(cli):
    @cli.command("hello")
    def hello():
        """Say hello from a plugin."""
        click.echo("hello from a plugin")
