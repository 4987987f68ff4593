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

# Channels with their own address and opt-out columns on User; any other channel addresses the
# user by their email (the notifier maps it to its own account) and has no per-user opt-out yet.
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
        label = getattr(notifier, "label", None)
        if label:
            return str(label)
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
            f"unknown reminder channel(s): {', '.join(unknown)}; this portal sends by "
            f"{', '.join(registered_channels()) or 'no channel'}",
            code=code,
            details={"allowed": list(registered_channels())},
        )
    return chosen


def address_for(user: User, channel: str) -> str:
    if channel == "sms":
        return user.phone or ""
    return user.email


def wants(user: User, channel: str) -> bool:
    """The user's own preference and an address to send to."""
    if channel == "email":
        return bool(user.notify_email and user.email)
    if channel == "sms":
        return bool(user.notify_sms and user.phone)
    return channel in plugins().notifiers and bool(user.email)
