from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from portal.core.errors import ValidationFailed
from portal.i18n import gettext


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def check_timezone(name: str) -> str:
    """An IANA zone name such as Europe/Paris, or a validation error."""
    try:
        if name not in _known_zones():
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(
            gettext("unknown time zone %(name)s", name=repr(name)), code="invalid_timezone"
        ) from exc
    return name
