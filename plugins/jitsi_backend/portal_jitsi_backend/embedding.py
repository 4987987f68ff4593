"""Let the class page embed the configured Jitsi deployments.

The core's Content-Security-Policy takes extra sources from the page_csp_sources hook;
the plugin answers with the origins of the enabled Jitsi configurations (the IFrame API
script and the meeting iframe), cached for a minute because admins add and change
configurations at run time. The iframe also needs camera,
microphone and screen sharing delegated by the page's Permissions-Policy.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlparse

from flask import Flask, current_app, request

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60
_CACHE_KEY = "jitsi_backend.origins"
FEATURES = ("camera", "microphone", "display-capture")


def _origin(settings: dict) -> str | None:
    base = str(settings.get("web_url") or "") or (
        f"https://{settings['domain']}" if settings.get("domain") else ""
    )
    parsed = urlparse(base)
    return (
        f"{parsed.scheme}://{parsed.netloc}"
        if parsed.scheme in ("http", "https") and parsed.netloc
        else None
    )


def jitsi_origins() -> list[str]:
    cached = current_app.extensions.get(_CACHE_KEY)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    from portal.plugins import services

    origins = sorted(
        {
            o
            for _, settings in services.backend_settings("jitsi", enabled_only=True)
            if (o := _origin(settings))
        }
    )
    current_app.extensions[_CACHE_KEY] = (time.monotonic() + REFRESH_SECONDS, origins)
    return origins


def csp_sources() -> dict[str, list[str]]:
    """The page_csp_sources answer: the IFrame API script and the meeting iframe."""
    if request.path.startswith(("/plugins/", "/static/", "/files/")):
        return {}
    origins = jitsi_origins()
    return {"script-src": origins, "frame-src": origins}


def init_embedding(app: Flask) -> None:
    @app.after_request
    def delegate_devices(response):
        # Runs before the core's header hook (Flask runs after_request last-in first-out),
        # which only sets Permissions-Policy when it is still missing.
        if request.path.startswith(("/api/", "/plugins/", "/static/", "/files/")):
            return response
        try:
            origins = jitsi_origins()
        except Exception:  # the page must render even if the database hiccups
            log.exception("could not read the Jitsi origins for the Permissions-Policy")
            origins = []
        if origins and "Permissions-Policy" not in response.headers:
            allow = " ".join(["self", *(f'"{o}"' for o in origins)])
            response.headers["Permissions-Policy"] = ", ".join(f"{f}=({allow})" for f in FEATURES)
        return response
