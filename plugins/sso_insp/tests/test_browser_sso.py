"""A real Chromium goes from a page on another site (insp) to the portal, signed in.

This is what the test client cannot show: the session cookies set in answer to a
cross-site form POST (SameSite=Lax) survive the 303 and open the dashboard, and the
portal's logout hands over to insp's logout page.
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from insp_tokens import hs_token
from portal_testing import serving

pytestmark = pytest.mark.browser


class InspSite:
    """The main website: one page with an auto-submitted SSO form, one logout page."""

    def __init__(self) -> None:
        self.form_page = ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = (
                    outer.form_page
                    if self.path == "/go-to-class"
                    else "<h1>Signed out of insp</h1>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # "localhost" and "127.0.0.1" are different sites for the browser's cookie rules.
        self.base = f"http://localhost:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def sites(make_sso_app):
    insp = InspSite()
    insp.thread.start()
    app = make_sso_app(SSO_INSP_LOGOUT_URL=insp.base + "/logout")
    try:
        with serving(app) as portal_url:
            yield insp, portal_url
    finally:
        insp.httpd.shutdown()
        insp.httpd.server_close()
        insp.thread.join(timeout=5)


def test_cross_site_form_post_signs_in_and_logout_returns_to_insp(sites, page):
    insp, portal = sites
    token = html.escape(hs_token(name="Ada Lovelace"))
    insp.form_page = (
        f'<form id="sso" method="post" action="{portal}/sso/insp/login">'
        f'<input type="hidden" name="token" value="{token}"><input '
        'type="hidden" name="next" value="/">'
        '</form><script>document.getElementById("sso").submit()</script>'
    )
    page.goto(insp.base + "/go-to-class")
    page.wait_for_url(portal + "/")
    assert page.locator(".who").inner_text() == "Ada Lovelace (student)"
    assert "token=" not in page.url

    # Going back to the same link does not sign in twice with one token.
    page.goto(insp.base + "/go-to-class")
    page.wait_for_load_state()
    assert "already been used" in page.content()

    # The portal still knows the user; logging out continues to insp's logout page.
    page.goto(portal + "/")
    page.evaluate(
        """() => { const f = document.createElement('form');
                   f.method = 'post'; f.action = '/logout';
                   document.body.appendChild(f); f.submit(); }"""
    )
    page.wait_for_url(insp.base + "/logout")
    page.goto(portal + "/")
    page.wait_for_url(portal + "/login")


def test_redirect_with_token_in_the_url(sites, page):
    insp, portal = sites
    page.goto(f"{portal}/sso/insp/login?token={hs_token()}&next=//evil.test/")
    page.wait_for_url(portal + "/")
    assert page.locator(".who").inner_text().endswith("(student)")
