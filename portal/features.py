"""Which optional page parts this app serves, declared by the blueprints that serve them.

Pages (portal/web) read the flags through `portal.web.support.features()`; the API modules and
plugin blueprints declare what they serve with `serve_features`. Kept outside both packages so
neither imports the other.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask.blueprints import BlueprintSetupState

# The optional page parts. A part is shown only when a blueprint of this app declared that it
# serves the part's API (`serve_features`), so pages never offer a button that would answer 404.
# The core's own API modules declare theirs (portal/api/content.py, live.py, calendar.py); a
# plugin blueprint declares what it adds the same way.
FEATURES: tuple[str, ...] = (
    "chat",
    "chat_send",
    "polls",
    "polls_create",
    "polls_publish",
    "presence",
    "media",
    "media_upload",
    "attendance",
    "feedback",
    "feedback_mine",
    "feedback_summary",
    "slides",
    "slides_upload",
    "recordings",
    "recordings_publish",
    "calendar_feed_reset",
)
SERVED = "portal.web.served_features"


def serve_features(
    bp: Blueprint, *names: str, calendar_feed: tuple[str, str] | None = None
) -> None:
    """Declare that `bp` serves these page parts; `calendar_feed` is (endpoint, token argument)
    of a personal iCalendar feed route."""
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown page features: {sorted(unknown)}")

    def record(state: BlueprintSetupState) -> None:
        served = state.app.extensions.setdefault(SERVED, {})
        served.update(dict.fromkeys(names, True))
        if calendar_feed is not None:
            served["calendar_feed"] = calendar_feed

    bp.record_once(record)


def compute_features(app: Flask) -> dict[str, Any]:
    served = app.extensions.get(SERVED, {})
    flags: dict[str, Any] = {name: bool(served.get(name)) for name in FEATURES}
    flags["calendar_feed"] = served.get("calendar_feed")
    return flags
