"""Helpers for plugin blueprints that sign people in (auth providers).

    from portal.plugins.web import current_browser_user, safe_next_path, start_browser_session

They are the very functions the portal's own password login uses, so a session started by
a plugin is indistinguishable from a password session (same cookies, same revocation).
Users cross this boundary as portal.plugins.UserInfo, like everywhere in the contract.
"""

from __future__ import annotations

from typing import Any

from portal.plugins.types import UserInfo
from portal.web.session import end_browser_session, safe_next_path

__all__ = [
    "current_browser_user",
    "end_browser_session",
    "safe_next_path",
    "same_site_form",
    "start_browser_session",
]


def start_browser_session(response: Any, user: UserInfo, provider: str | None = None) -> Any:
    """Sign `user` in on this browser (access + refresh JWT cookies with their CSRF cookies);
    `provider` is the AuthProvider's name. Returns the response."""
    from portal.core.errors import NotFound
    from portal.core.models import User
    from portal.extensions import db
    from portal.web import session

    row = db.session.get(User, user.id)
    if row is None:
        raise NotFound("no such user")
    return session.start_browser_session(response, row, provider=provider)


def current_browser_user() -> UserInfo | None:
    """The user signed in on this browser (session cookie or bearer token), else None."""
    from portal.core.snapshots import user_info
    from portal.web import session

    user = session.current_browser_user()
    return user_info(user) if user is not None else None


def same_site_form() -> bool:
    """Does this form POST come from the portal's own pages? The origin check (Origin, else
    Referer) that protects the core's HTML forms against cross-site request forgery."""
    from portal.web.support import same_site_form as core_check

    return core_check()
