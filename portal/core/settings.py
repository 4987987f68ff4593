"""Site settings an admin can change at run time, falling back to configuration."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.core.models import SiteSetting
from portal.extensions import db

EDITABLE = {
    "school_name": "SCHOOL_NAME",
    "timezone": "SCHOOL_TIMEZONE",
}


def get_setting(key: str) -> Any:
    row = db.session.get(SiteSetting, key)
    if row is not None:
        return row.value
    return current_app.config.get(EDITABLE.get(key, key.upper()))


def set_setting(key: str, value: Any) -> None:
    row = db.session.get(SiteSetting, key)
    if row is None:
        db.session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value


def site_timezone() -> str:
    return get_setting("timezone") or "UTC"


def waiting_room_default() -> bool:
    """Whether new classes have a waiting room: the admin's site setting, off by default."""
    return bool(get_setting("waiting_room"))
