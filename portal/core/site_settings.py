"""The site settings an administrator edits on the settings page (school name, time zone,
reminder defaults for new classes). Stored in site_settings; fall back to configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.core import access, audit, recordings, room_settings
from portal.core.errors import ValidationFailed
from portal.core.models import User
from portal.core.settings import get_setting, set_setting, waiting_room_default
from portal.core.timezones import check_timezone

DEFAULT_REMINDER_OFFSETS = [1440, 15]
DEFAULT_REMINDER_CHANNELS = ["email"]


@dataclass
class SiteSettingsChanges:
    school_name: str | None = None
    timezone: str | None = None
    default_locale: str | None = None  # the language of visitors who ask for none we speak
    reminder_offsets: list[int] | None = None
    reminder_channels: list[str] | None = None
    recording_visibility: str | None = None
    waiting_room: bool | None = None  # the default of new classes
    sign_up: str | None = None  # accounts.SignUpMode
    room_defaults: dict[str, Any] | None = None  # room_settings of new classes


def read_site_settings() -> dict[str, Any]:
    from portal.core.accounts import sign_up_mode
    from portal.i18n import site_locale

    offsets = get_setting("reminder_offsets")
    channels = get_setting("reminder_channels")
    return {
        "school_name": get_setting("school_name") or "",
        "timezone": get_setting("timezone") or "UTC",
        "default_locale": site_locale(),
        "reminder_offsets": list(offsets)
        if offsets is not None
        else list(DEFAULT_REMINDER_OFFSETS),
        "reminder_channels": list(channels)
        if channels is not None
        else list(DEFAULT_REMINDER_CHANNELS),
        "recording_visibility": recordings.default_visibility(),
        "waiting_room": waiting_room_default(),
        "sign_up": sign_up_mode().value,
        "room_defaults": room_settings.site_defaults(),
    }


def update_site_settings(actor: User, changes: SiteSettingsChanges) -> dict[str, Any]:
    access.require_admin(actor)
    if changes.school_name is not None:
        name = changes.school_name.strip()
        if not name:
            raise ValidationFailed("the school name must not be empty", code="invalid_school_name")
        set_setting("school_name", name)
    if changes.timezone is not None:
        set_setting("timezone", check_timezone(changes.timezone.strip()))
    if changes.default_locale is not None:
        from portal.core.users import check_locale

        set_setting("default_locale", check_locale(changes.default_locale) or "en")
    if changes.reminder_offsets is not None:
        offsets = sorted({int(o) for o in changes.reminder_offsets}, reverse=True)
        if len(offsets) > 5 or any(not (0 <= o <= 14 * 1440) for o in offsets):
            raise ValidationFailed(
                "at most 5 reminders, each between 0 and 20160 minutes before the class",
                code="invalid_reminders",
            )
        set_setting("reminder_offsets", offsets)
    if changes.reminder_channels is not None:
        from portal.core.notifications.channels import require_registered

        set_setting(
            "reminder_channels",
            require_registered(changes.reminder_channels, code="invalid_reminders"),
        )
    if changes.recording_visibility is not None:
        set_setting(
            "recording_visibility", recordings.check_visibility(changes.recording_visibility)
        )
    if changes.waiting_room is not None:
        set_setting("waiting_room", bool(changes.waiting_room))
    if changes.room_defaults is not None:
        checked = room_settings.check(
            {k: v for k, v in changes.room_defaults.items() if v is not None}
        )
        set_setting("room_defaults", {**(get_setting("room_defaults") or {}), **checked})
    if changes.sign_up is not None:
        from portal.core.accounts import SignUpMode

        try:
            set_setting("sign_up", SignUpMode(changes.sign_up).value)
        except ValueError as exc:
            raise ValidationFailed(
                "sign-up must be closed, invite_only or open_with_approval",
                code="invalid_sign_up",
            ) from exc
    audit.record(
        actor,
        "site.settings",
        "site",
        "site",
        fields=sorted(k for k, v in vars(changes).items() if v is not None),
    )
    return read_site_settings()
