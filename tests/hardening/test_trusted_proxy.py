"""Behind a reverse proxy: X-Forwarded-* headers are believed only from the number of
proxies configured (PORTAL_PROXY_FIX_X_FOR etc., werkzeug ProxyFix), never by default.

Without this every client shares the proxy's address, so the per-address login limit locks
out the whole school at once; believing the headers from anyone would let an attacker
choose a new address for every attempt."""

from __future__ import annotations

import pytest
from portal_testing import PASSWORD, make_app

PROXY = {"REMOTE_ADDR": "10.0.0.5"}  # what the portal's socket sees: the proxy
WRONG = {"password": "wrong-password!"}


def _attempt(client, forwarded_for: str | None, email: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        "/api/auth/login", json={"email": email, **WRONG}, headers=headers, environ_base=PROXY
    ).status_code


def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(database_url, tmp_path, app):
    client = make_app(
        database_url, tmp_path, LOGIN_RATE_LIMIT="2 per minute", PROXY_FIX_X_FOR=1
    ).test_client()
    pupil = [_attempt(client, "203.0.113.7", f"pupil{n}@tests.school") for n in range(3)]
    assert pupil == [401, 401, 429]
    # Another pupil behind the same proxy is not locked out with the first one.
    assert _attempt(client, "203.0.113.8", "other@tests.school") == 401
    # The proxy appends the real peer; what the client put in front of it is not believed,
    # so a forged header does not buy the first pupil a fresh limit.
    assert _attempt(client, "198.51.100.1, 203.0.113.7", "pupil9@tests.school") == 429


def test_without_a_configured_proxy_forwarded_headers_are_ignored(database_url, tmp_path, app):
    client = make_app(database_url, tmp_path, LOGIN_RATE_LIMIT="2 per minute").test_client()
    codes = [_attempt(client, f"203.0.113.{n}", f"guess{n}@tests.school") for n in range(1, 5)]
    assert codes == [401, 401, 429, 429]  # one peer address, whatever the header claims


@pytest.mark.parametrize(("hops", "scheme"), [(1, "https"), (0, "http")])
def test_external_urls_follow_the_scheme_a_trusted_proxy_reports(
    database_url, tmp_path, make_user, hops, scheme
):
    """TLS ends at the proxy: links the portal hands out (here the calendar feed on the
    profile page) must say https, but only when the proxy saying so is trusted."""
    user = make_user()
    client = make_app(database_url, tmp_path, PROXY_FIX_X_PROTO=hops).test_client()
    assert (
        client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}).status_code
        == 200
    )
    page = client.get("/profile", headers={"X-Forwarded-Proto": "https"}, environ_base=PROXY)
    assert page.status_code == 200
    assert f"{scheme}://localhost/api/calendar/feed/" in page.get_data(as_text=True)


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_hop_count_that_is_not_a_count_stops_the_start(database_url, tmp_path, value):
    with pytest.raises(
        ValueError, match="PORTAL_PROXY_FIX_X_FOR must be a number of trusted proxies"
    ):
        make_app(database_url, tmp_path, PROXY_FIX_X_FOR=value)
