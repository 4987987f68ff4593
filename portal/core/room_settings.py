"""Per-class room settings, in the words a teacher uses. Stored on the class (classes.
room_settings; missing keys fall back to the site's defaults, site setting
"room_defaults", then to RoomSettings' own defaults). Each backend plugin says in
`Capabilities.room_settings` which ones it honours and maps them itself; the class form
shows only those. "Allow chat" is also enforced by the portal's chat for every backend."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from portal.core.errors import ValidationFailed
from portal.core.models import Class
from portal.core.settings import get_setting
from portal.i18n import gettext, ngettext
from portal.plugins.types import MeetingBackend, RoomSettings

LABELS: dict[str, str] = {
    "mute_on_entry": "Mute everyone when they enter",
    "cameras_teachers_only": "Only teachers may turn on their camera",
    "screen_share": "Who may share their screen",
    "chat": "Allow chat",
    "private_chat": "Allow private chat",
    "record": "Record this class",
}
SCREEN_SHARE_CHOICES = {
    "teachers": "Teachers only",
    "everyone": "Students too, when the teacher gives them the floor",
}
NAMES = tuple(field.name for field in fields(RoomSettings))
# `record` keeps its own column (classes.record), which recordings already read.
STORED = tuple(name for name in NAMES if name != "record")


def check(values: dict[str, Any]) -> dict[str, Any]:
    """The settings as given, checked; a clear 400 naming a bad one."""
    unknown = sorted(set(values) - set(STORED))
    if unknown:
        raise ValidationFailed(
            ngettext(
                "unknown room setting: %(unknown)s; known: %(known)s",
                "unknown room settings: %(unknown)s; known: %(known)s",
                len(unknown),
                unknown=", ".join(unknown),
                known=", ".join(STORED),
            ),
            code="invalid_room_settings",
        )
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name == "screen_share":
            if value not in SCREEN_SHARE_CHOICES:
                raise ValidationFailed(
                    "screen_share must be 'teachers' or 'everyone'", code="invalid_room_settings"
                )
        elif not isinstance(value, bool):
            raise ValidationFailed(
                gettext("%(name)s must be true or false", name=name), code="invalid_room_settings"
            )
        checked[name] = value
    return checked


def site_defaults() -> dict[str, Any]:
    stored = get_setting("room_defaults") or {}
    defaults = {k: v for k, v in asdict(RoomSettings()).items() if k in STORED}
    defaults.update({k: v for k, v in stored.items() if k in STORED})
    return defaults


def for_class(klass: Class) -> RoomSettings:
    values = site_defaults()
    values.update({k: v for k, v in (klass.room_settings or {}).items() if k in STORED})
    return RoomSettings(**values, record=bool(klass.record))


def as_dict(klass: Class) -> dict[str, Any]:
    return asdict(for_class(klass))


def honoured_by(backend: MeetingBackend | None) -> list[str]:
    """The settings the class form shows for this backend ("chat" always: the portal's
    own chat enforces it)."""
    declared = set(getattr(backend.capabilities, "room_settings", ()) if backend else ())
    if backend is not None and backend.capabilities.recording:
        declared.add("record")
    return [name for name in NAMES if name in declared or name == "chat"]
