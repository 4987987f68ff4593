"""Site settings an admin can change at run time, falling back to configuration."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from portal.core.models import SiteSetting
from portal.extensions import db

# session.info: every stored setting, read in one query per transaction (a page reads the
# school name and zone several times; an absent row would otherwise be asked for each time).
_CACHE = "portal.site_settings"

EDITABLE = {
    "school_name": "SCHOOL_NAME",
    "timezone": "SCHOOL_TIMEZONE",
    "default_locale": "DEFAULT_LOCALE",
}


def _stored() -> dict[str, Any]:
    info = db.session().info
    stored = info.get(_CACHE)
    if stored is None:
        rows = db.session.execute(db.select(SiteSetting.key, SiteSetting.value)).all()
        stored = info[_CACHE] = {key: value for key, value in rows}
    return stored


def get_setting(key: str) -> Any:
    stored = _stored()
    if key in stored:
        return stored[key]
    return current_app.config.get(EDITABLE.get(key, key.upper()))


def set_setting(key: str, value: Any) -> None:
    row = db.session.get(SiteSetting, key)
    if row is None:
        db.session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value
    _stored()[key] = value


@event.listens_for(Session, "after_transaction_end")
def _forget_settings(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the next transaction reads what others committed since
        session.info.pop(_CACHE, None)


def site_timezone() -> str:
    return get_setting("timezone") or "UTC"


def waiting_room_default() -> bool:
    """Whether new classes have a waiting room: the admin's site setting, off by default."""
    return bool(get_setting("waiting_room"))
