"""The OpenID Connect provider printed in docs/sso.md works as printed.

The example is cut out of the Markdown, loaded as a plugin, and run against a small
OpenID provider (discovery, token endpoint, JWKS) on 127.0.0.1, so the docs cannot rot.
"""

from __future__ import annotations

import base64
import importlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import fake_backend
import jwt
import pytest
from insp_tokens import rsa_key
from jwt.algorithms import RSAAlgorithm

DOCS = Path(__file__).resolve().parents[3] / "docs" / "sso.md"
CLIENT_ID, CLIENT_SECRET = "portal-client", "portal-client-secret-0123456789"


class OpenIdProvider:
    """Discovery document, JWKS and token endpoint: what Authlib's client talks to."""

    def __init__(self) -> None:
        self.key = rsa_key()
        self.codes: dict[str, dict] = {}  # code -> claims of the ID token to issue
        self.token_requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                if self.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": outer.issuer,
                            "authorization_endpoint": outer.issuer + "/authorize",
                            "token_endpoint": outer.issuer + "/token",
                            "jwks_uri": outer.issuer + "/jwks",
                            "response_types_supported": ["code"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        },
                    )
                elif self.path == "/jwks":
                    jwk = json.loads(RSAAlgorithm.to_jwk(outer.key.public_key()))
                    self._json(
                        200, {"keys": [{**jwk, "kid": "op-1", "use": "sig", "alg": "RS256"}]}
                    )
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self):  # noqa: N802
                form = parse_qs(
                    self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                )
                auth = self.headers.get("Authorization", "")
                basic = (
                    base64.b64decode(auth.split(" ", 1)[1]).decode()
                    if auth.startswith("Basic ")
                    else ""
                )
                outer.token_requests.append({"form": form, "basic": basic})
                claims = outer.codes.pop(form.get("code", [""])[0], None)
                if (
                    self.path != "/token"
                    or claims is None
                    or basic != f"{CLIENT_ID}:{CLIENT_SECRET}"
                ):
                    self._json(400, {"error": "invalid_grant"})
                    return
                now = int(time.time())
                id_token = jwt.encode(
                    {"iss": outer.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **claims},
                    outer.key,
                    algorithm="RS256",
                    headers={"kid": "op-1"},
                )
                self._json(
                    200,
                    {
                        "access_token": "at-1",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": id_token,
                    },
                )

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def oidc_plugin(tmp_path):
    text = DOCS.read_text()
    match = re.search(r"```python\n# portal_oidc/__init__.py\n(.*?)```", text, re.S)
    assert match, "docs/sso.md lost its OIDC example"
    package = tmp_path / "docs_example" / "portal_oidc"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(match.group(1))
    sys.path.insert(0, str(package.parent))
    sys.modules.pop("portal_oidc", None)
    try:
        yield importlib.import_module("portal_oidc")
    finally:
        sys.path.remove(str(package.parent))
        sys.modules.pop("portal_oidc", None)


def test_the_documented_oidc_provider_signs_people_in(make_sso_app, oidc_plugin):
    with OpenIdProvider() as op:
        app = make_sso_app(
            EXTRA_PLUGINS=[fake_backend, oidc_plugin],
            OIDC_CLIENT_ID=CLIENT_ID,
            OIDC_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_SERVER_METADATA_URL=op.issuer + "/.well-known/openid-configuration",
        )
        client = app.test_client()
        page = client.get("/login", query_string={"next": "/classes/4"}).get_data(as_text=True)
        assert "Sign in with the school account" in page
        assert 'href="/sso/oidc/login?next=/classes/4"' in page

        start = client.get("/sso/oidc/login", query_string={"next": "/classes/4"})
        assert start.status_code == 302
        authorize = urlsplit(start.headers["Location"])
        assert (
            f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == op.issuer + "/authorize"
        )
        query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
        assert query["client_id"] == CLIENT_ID and "openid" in query["scope"].split()

        # The provider authenticates the person and sends the browser back with a code.
        op.codes["code-1"] = {
            "sub": "op-user-7",
            "email": "grace@insp-school.eu",
            "name": "Grace Hopper",
            "groups": ["teachers"],
            "nonce": query["nonce"],
        }
        back = client.get(
            urlsplit(query["redirect_uri"]).path,
            query_string={"code": "code-1", "state": query["state"]},
        )
        assert back.status_code == 302, back.get_data(as_text=True)[:500]
        assert back.headers["Location"] == "/classes/4"
        me = client.get("/api/auth/me").get_json()
        assert (me["email"], me["name"], me["role"]) == (
            "grace@insp-school.eu",
            "Grace Hopper",
            "teacher",
        )

        # A forged callback (no matching state) is refused with the portal's error page.
        forged = app.test_client().get(
            "/sso/oidc/callback",
            query_string={"code": "x", "state": "y"},
            headers={"Accept": "text/html"},
        )
        assert forged.status_code == 401
        assert "(oidc_failed)" in forged.get_data(as_text=True)

        # A wrong nonce in the ID token is refused too (replayed ID token).
        again = app.test_client()
        query2 = {
            k: v[0]
            for k, v in parse_qs(
                urlsplit(again.get("/sso/oidc/login").headers["Location"]).query
            ).items()
        }
        op.codes["code-2"] = {
            "sub": "op-user-8",
            "email": "x@insp-school.eu",
            "name": "X",
            "nonce": "other",
        }
        refused = again.get(
            "/sso/oidc/callback", query_string={"code": "code-2", "state": query2["state"]}
        )
        assert refused.status_code == 401
        assert again.get("/api/auth/me").status_code == 401
