"""The bundled SFU meeting backend (aiortc): WHIP/WHEP signalling, encoded-frame forwarding."""

from portal_native_sfu.plugin import (
    class_ended,
    floor_changed,
    register_api_paths,
    register_blueprints,
    register_commands,
    register_meeting_backends,
    register_periodic_jobs,
)

__all__ = [
    "class_ended",
    "floor_changed",
    "register_api_paths",
    "register_blueprints",
    "register_commands",
    "register_meeting_backends",
    "register_periodic_jobs",
]

# This plugin's own catalogue (portal.plugins.i18n): its templates and scripts find it.
from portal.plugins.i18n import domain as _domain  # noqa: E402

translations = _domain("portal_native_sfu")
