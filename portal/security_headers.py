from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.datastructures import Headers

log = logging.getLogger(__name__)

# The directives a plugin may widen through the page_csp_sources hook.
PLUGIN_DIRECTIVES = (
    "script-src",
    "frame-src",
    "connect-src",
    "media-src",
    "img-src",
    "style-src",
    "form-action",
)


def plugin_sources(app: Flask) -> dict[str, list[str]]:
    """What the plugins' page_csp_sources hooks add, per directive (a failing plugin adds
    nothing)."""
    pm = app.extensions.get("portal.pm")
    merged: dict[str, list[str]] = {d: [] for d in PLUGIN_DIRECTIVES}
    if pm is None:
        return merged
    for impl in pm.hook.page_csp_sources.get_hookimpls():
        try:
            answer = impl.function() or {}
        except Exception:  # the page must render even if a plugin's lookup fails
            log.exception("plugin %s: page_csp_sources failed", impl.plugin_name)
            continue
        for directive, origins in answer.items():
            if directive in merged:
                merged[directive].extend(o for o in origins if o not in merged[directive])
    return merged


def _csp_settings(app: Flask) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]:
    """The configuration the policy is built from: frame-src, form-action and script-src
    additions and the realtime server's URL (also the key of the API headers' cache)."""
    return (
        tuple(app.config.get("CSP_FRAME_SRC", ())),
        tuple(app.config.get("CSP_FORM_ACTION", ())),
        tuple(app.config.get("CSP_SCRIPT_SRC", ())),
        app.config.get("REALTIME_URL") or "",
    )


def _content_security_policy(app: Flask, extra: dict[str, list[str]]) -> str:
    frames, forms, scripts, realtime = _csp_settings(app)
    frame_src = " ".join(["'self'", *frames, *extra["frame-src"]])
    # Browsers also apply form-action to redirects after a form POST (logout handing over to
    # an SSO provider's logout page): plugins widen it through the hook, admins through
    # CSP_FORM_ACTION.
    form_action = " ".join(["'self'", *forms, *extra["form-action"]])
    # A realtime server on another origin (PORTAL_REALTIME_URL) must be reachable too.
    connect_src = " ".join(
        [
            "'self'",
            "ws:",
            "wss:",
            *([realtime.rstrip("/")] if realtime else []),
            *extra["connect-src"],
        ]
    )
    script_src = " ".join([*scripts, *extra["script-src"]])
    media_src = " ".join(["'self'", "blob:", *extra["media-src"]])
    img_src = " ".join(["'self'", "data:", "https:", *extra["img-src"]])
    style_src = " ".join(["'self'", "'unsafe-inline'", *extra["style-src"]])
    return (
        f"default-src 'self'; img-src {img_src}; media-src {media_src}; "
        f"script-src 'self' {script_src}; "
        f"style-src {style_src}; "
        f"connect-src {connect_src}; "
        f"frame-src {frame_src}; frame-ancestors 'self'; "
        f"base-uri 'self'; form-action {form_action}"
    )


_FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"),
)
_NO_STORE = ("Cache-Control", "no-store")
_NO_PLUGIN_SOURCES: dict[str, list[str]] = {d: [] for d in PLUGIN_DIRECTIVES}


def _api_headers(app: Flask) -> tuple[tuple[str, str], ...]:
    """Every API answer's security headers, built once per app and configuration: no plugin
    widens an API answer's policy, and building the policy string and setting each header
    with a lookup cost more on every answer than the rest of the headers together."""
    key = _csp_settings(app)
    cached = app.extensions.get("portal.api_headers")
    if cached is None or cached[0] != key:
        policy = _content_security_policy(app, _NO_PLUGIN_SOURCES)
        headers = (*_FIXED_HEADERS, ("Content-Security-Policy", policy), _NO_STORE)
        cached = (key, headers)
        app.extensions["portal.api_headers"] = cached
    return cached[1]


def _add_missing(headers: Headers, wanted: tuple[tuple[str, str], ...]) -> None:
    """`setdefault` for each of `wanted`, with one pass over the headers already set."""
    present = {name.lower() for name, _value in headers.items()}
    for name, value in wanted:
        if name.lower() not in present:
            headers.add(name, value)


def init_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        headers = response.headers
        if request.path.startswith("/api/"):
            _add_missing(headers, _api_headers(app))
        else:
            # Pages may embed meeting backends (Jitsi iframes, their room scripts): plugins
            # widen the policy through the page_csp_sources hook.
            policy = _content_security_policy(app, plugin_sources(app))
            _add_missing(headers, (*_FIXED_HEADERS, ("Content-Security-Policy", policy)))
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
