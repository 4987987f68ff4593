"""Helpers for plugin blueprints that sign people in (auth providers).

    from portal.plugins.web import current_browser_user, safe_next_path, start_browser_session

They are the very functions the portal's own password login uses, so a session started by
a plugin is indistinguishable from a password session (same cookies, same revocation).
"""

from portal.web.session import (
    current_browser_user,
    end_browser_session,
    safe_next_path,
    start_browser_session,
)

__all__ = ["current_browser_user", "end_browser_session", "safe_next_path", "start_browser_session"]
