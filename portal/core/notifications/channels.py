"""The notification channels: exactly those a registered notifier serves.

The bundled notifiers serve "email" and "sms" (the outbox always registers both); a plugin's
notifier adds its own channel, which classes and the site settings may then choose for reminders.
Every list of channels (forms, validation, unsubscribe, review filters) is read from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from portal.core.errors import ValidationFailed
from portal.core.models import User
from portal.core.registry import plugins
from portal.i18n import gettext, ngettext
from portal.plugins.types import LabelledNotifier

# Channels with their own address on User (sms: the phone); any other channel addresses the user
# by their email (the notifier maps it to its own account). Every channel has a per-user
# choice (User.channel_preferences), the built-in ones and a plugin's alike.
BUILT_IN_LABELS = {"email": "email", "sms": "text message (SMS)"}
FORM_LABELS = {"email": "Email", "sms": "SMS"}


def registered_channels() -> tuple[str, ...]:
    """Channels some registered notifier serves, built-in ones first."""
    served = set(plugins().notifiers)
    return tuple(
        [c for c in BUILT_IN_LABELS if c in served] + sorted(served - set(BUILT_IN_LABELS))
    )


def channel_label(channel: str) -> str:
    if channel in BUILT_IN_LABELS:
        return BUILT_IN_LABELS[channel]
    for notifier in plugins().notifiers.get(channel, []):
        if isinstance(notifier, LabelledNotifier) and notifier.label:
            return str(notifier.label)
    return channel


def channel_choices() -> list[tuple[str, str]]:
    """(channel, label) of every registered channel, for forms and filters."""
    return [(c, FORM_LABELS.get(c) or channel_label(c)) for c in registered_channels()]


def require_registered(channels: Iterable[str], *, code: str = "unknown_channel") -> list[str]:
    """The channels, de-duplicated in order; a clear 400 naming any no notifier serves."""
    chosen = list(dict.fromkeys(channels))
    unknown = sorted(set(chosen) - set(registered_channels()))
    if unknown:
        raise ValidationFailed(
            ngettext(
                "unknown reminder channel: %(unknown)s; this portal sends by %(known)s",
                "unknown reminder channels: %(unknown)s; this portal sends by %(known)s",
                len(unknown),
                unknown=", ".join(unknown),
                known=", ".join(registered_channels()),
            )
            if registered_channels()
            else ngettext(
                "unknown reminder channel: %(unknown)s; this portal sends no reminders",
                "unknown reminder channels: %(unknown)s; this portal sends no reminders",
                len(unknown),
                unknown=", ".join(unknown),
            ),
            code=code,
            details={"allowed": list(registered_channels())},
        )
    return chosen


def address_for(user: User, channel: str) -> str:
    if channel == "sms":
        return user.phone or ""
    return user.email


def wants(user: User, channel: str) -> bool:
    """A registered channel the user has not turned off, and an address to send to."""
    if channel not in ("email", "sms") and channel not in plugins().notifiers:
        return False
    return user.receives(channel) and bool(address_for(user, channel))


def preferences(user: User) -> dict[str, bool]:
    """The user's choice for every registered channel, {channel: on}, in channel order."""
    return {channel: user.receives(channel) for channel in registered_channels()}


def choose(user: User, choices: dict[str, bool]) -> None:
    """Turn registered channels on or off for the user (profile page, API); 400 for a
    channel no notifier serves, and for SMS without a phone number. The user's planned
    reminders follow the new choice."""
    changed = False
    for channel in require_registered(choices):
        on = bool(choices[channel])
        if on and not address_for(user, channel):
            if channel == "sms":
                raise ValidationFailed(
                    gettext("add a phone number before turning SMS reminders on"), code="no_phone"
                )
            raise ValidationFailed(
                gettext(
                    "add an address before turning %(channel)s on", channel=channel_label(channel)
                ),
                code="no_address",
            )
        changed = changed or on != user.receives(channel)
        user.choose_channel(channel, on)
    if changed:
        from portal.core.notifications.planning import sync_user

        sync_user(user)
