"""The one way to start and end a browser session (the portal's JWT cookies).

Password login (portal/web/pages.py) and every auth provider plugin (via
portal.plugins.web) use these helpers, so cookies, CSRF cookies and the "signed in with"
marker are set identically whatever the sign-in method.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, overload
from urllib.parse import urlsplit

from flask import current_app, request
from flask_jwt_extended import (
    decode_token,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)

from portal.auth_setup import request_user
from portal.core import auth_tokens, unit_of_work
from portal.core.registry import plugins

# Remembers which auth provider signed the browser in, so logout can hand over to that
# provider's own logout page (single logout). Not a secret: it only picks a configured URL.
PROVIDER_COOKIE = "portal_auth_provider"

# Control characters and whitespace that browsers strip or reinterpret in URLs
# ("/\t/evil.example" becomes "//evil.example").
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def start_browser_session(response: Any, user: Any, provider: str | None = None) -> Any:
    """Sign `user` in on this browser: access + refresh JWT cookies (with their CSRF cookies).

    `provider` is the AuthProvider name when an SSO provider vouched for the user, None for
    a portal password. Returns the response for chaining.
    """
    access, refresh = auth_tokens.issue_session(user)
    set_access_cookies(response, access)
    set_refresh_cookies(response, refresh)
    if provider:
        response.set_cookie(
            PROVIDER_COOKIE,
            provider,
            max_age=int(current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds()),
            httponly=True,
            secure=bool(current_app.config["JWT_COOKIE_SECURE"]),
            samesite="Lax",
        )
    else:
        # Same flags as when set: browsers keep a Secure cookie unless the deletion is Secure too.
        response.delete_cookie(
            PROVIDER_COOKIE,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config["JWT_COOKIE_SECURE"]),
        )
    return response


def end_browser_session(response: Any) -> None:
    """Revoke the tokens held in this browser's cookies and clear the cookies."""
    config = current_app.config
    for name in (config["JWT_ACCESS_COOKIE_NAME"], config["JWT_REFRESH_COOKIE_NAME"]):
        token = request.cookies.get(name)
        if token:
            # An expired or forged cookie needs no revocation.
            with contextlib.suppress(Exception):
                auth_tokens.revoke(decode_token(token))
    unit_of_work.commit()
    unset_jwt_cookies(response)
    response.delete_cookie(
        PROVIDER_COOKIE, httponly=True, samesite="Lax", secure=bool(config["JWT_COOKIE_SECURE"])
    )


def provider_logout_url() -> str | None:
    """The signing-in provider's logout URL (AuthProvider.logout_url), if any."""
    name = request.cookies.get(PROVIDER_COOKIE)
    provider = plugins().auth_providers.get(name) if name else None
    return provider.logout_url() if provider is not None else None


def current_browser_user() -> Any:
    """The user signed in with the session cookie (or a bearer token), else None."""
    return request_user()


@overload
def safe_next_path(value: str | None, default: str = "/") -> str: ...
@overload
def safe_next_path(value: str | None, default: None) -> str | None: ...
def safe_next_path(value: str | None, default: str | None = "/") -> str | None:
    """`value` if it is a path on this portal, else `default` (no open redirects).

    Refuses absolute and scheme-relative URLs ("//evil.example"), backslashes (which
    browsers treat as slashes), control characters and whitespace.
    """
    if not isinstance(value, str) or not value or len(value) > 2048:
        return default
    if _UNSAFE_CHARS.search(value) or not value.startswith("/") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
