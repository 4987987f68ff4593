"""Security headers on every page and cookie flags on every cookie the portal sets.

Pages are enumerated from app.url_map (every non-API GET route, plugins included), so a
new page is checked without editing this file.
"""

from __future__ import annotations

import re

import pytest
from portal_testing import PASSWORD, make_app

SAMPLE_ARGS = {
    "token": "not-a-real-token",
    "room": "no-such-room",
    "filename": "missing.js",
    "kind": "room",
    "action": "created",
    "session_id": "x",
}


def _page_urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:\w+:)?{name}>", SAMPLE_ARGS.get(name, "1"), url)
        urls.append(url)
    return sorted(set(urls)) + ["/no-such-page", "/api/no-such-endpoint"]


def _check_headers(url: str, response) -> None:
    h = response.headers
    assert h.get("X-Content-Type-Options") == "nosniff", url
    assert h.get("Referrer-Policy") == "strict-origin-when-cross-origin", url
    assert h.get("X-Frame-Options") in ("SAMEORIGIN", "DENY"), url
    csp = h.get("Content-Security-Policy", "")
    for directive in (
        "default-src 'self'",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action",
    ):
        assert directive in csp, (url, directive)
    assert "'unsafe-eval'" not in csp and not re.search(r"script-src[^;]*'unsafe-inline'", csp), url
    if url.startswith("/api/"):
        assert h.get("Cache-Control") == "no-store", url


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_sends_security_headers(app, client, make_user, signed_in):
    if signed_in:
        user = make_user("teacher")
        assert (
            client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code
            == 302
        )
    urls = _page_urls(app)
    assert "/" in urls and "/login" in urls and "/readyz" in urls
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        _check_headers(url, response)


def test_hsts_over_https(client):
    response = client.get("/login", base_url="https://portal.school.test")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def _cookies(response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookies_are_httponly_samesite_and_secure_when_configured(
    database_url, tmp_path, make_user, secure
):
    app = make_app(database_url, tmp_path, COOKIE_SECURE=secure)
    with app.app_context():
        user = make_user("student")
        client = app.test_client()
        base = "https://portal.school.test" if secure else "http://localhost"
        for response in (
            client.post("/login", data={"email": user.email, "password": PASSWORD}, base_url=base),
            client.post(
                "/api/auth/login", json={"email": user.email, "password": PASSWORD}, base_url=base
            ),
        ):
            cookies = _cookies(response)
            assert {"access_token_cookie", "refresh_token_cookie"} <= set(cookies)
            for name, header in cookies.items():
                flags = header.lower()
                assert "samesite=lax" in flags or "samesite=strict" in flags, header
                assert ("; secure" in flags) is secure, header
                if not name.startswith(
                    "csrf_"
                ):  # the double-submit CSRF cookies are read by the page's JS
                    assert "httponly" in flags, header
            assert "path=/api/auth/" in cookies["refresh_token_cookie"].lower()
