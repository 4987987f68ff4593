"""An LMS as the tool sees it, written from the 1EdTech LTI 1.3 Core specification and the
Security Framework: real HTTP on 127.0.0.1, its own RSA keys, an OIDC authorization
endpoint that checks the tool's authentication request and answers with a signed id_token
by form_post, and its JWKS."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from html import escape, unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
CLIENT_ID = "portal-tool-client"
DEPLOYMENT = "deployment-1"


class Platform:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "platform-key-1"
        self.people: dict[str, dict] = {}
        self.next_launch: dict = {}
        self.auth_requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                if url.path == "/jwks":
                    return self._send(200, "application/json", json.dumps(outer.jwks()))
                if url.path == "/auth":
                    params = {k: v[0] for k, v in parse_qs(url.query).items()}
                    status, body = outer.authorize(params)
                    return self._send(status, "text/html; charset=utf-8", body)
                return self._send(404, "text/plain", "not found")

            def _send(self, status, content_type, body):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def jwks(self) -> dict:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def registration(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "auth_login_url": self.issuer + "/auth",
            "auth_token_url": self.issuer + "/token",
            "key_set_url": self.issuer + "/jwks",
            "deployment_id": DEPLOYMENT,
        }

    def id_token(self, person: str, nonce: str, **changes) -> str:
        """The LtiResourceLinkRequest message (LTI 1.3 Core 5.3) for `person`; `changes`
        override claims (a wrong deployment, audience, expiry...), `signing_key` signs."""
        now = int(time.time())
        who = self.people[person]
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": person,
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "email": who["email"],
            "name": who["name"],
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "target_link_uri": "http://127.0.0.1:5000/lti/launch",
            CLAIM + "roles": who["roles"],
            CLAIM + "resource_link": {"id": "resource-link-1", "title": "Weekly maths class"},
            CLAIM + "context": {"id": "course-7", "title": "Maths 7B", "type": ["CourseSection"]},
        }
        signing_key = changes.pop("signing_key", self.key)
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": self.kid})

    def authorize(self, params: dict[str, str]) -> tuple[int, str]:
        """The platform's OIDC authorization endpoint (LTI 1.3 Core 5.1.1.2 / Security
        Framework 5.1.1.3): only a well-formed request for a known client is answered."""
        self.auth_requests.append(params)
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": CLIENT_ID,
        }
        wrong = [k for k, v in expected.items() if params.get(k) != v]
        if wrong or not params.get("nonce") or not params.get("state"):
            return 400, f"invalid authentication request: {wrong or 'nonce/state missing'}"
        if params.get("login_hint") not in self.people:
            return 400, "unknown login_hint"
        token = self.id_token(params["login_hint"], params["nonce"], **self.next_launch)
        return 200, (
            f'<form method="post" action="{escape(params["redirect_uri"])}">'
            f'<input type="hidden" name="id_token" value="{escape(token)}">'
            f'<input type="hidden" name="state" value="{escape(params["state"])}">'
            "</form><script>document.forms[0].submit()</script>"
        )


def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def form_fields(html: str) -> tuple[str, dict[str, str]]:
    action = unescape(re.search(r'action="([^"]+)"', html).group(1))
    fields = dict(
        (unescape(n), unescape(v)) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', html)
    )
    return action, fields


def at_platform(location: str) -> tuple[str, dict[str, str]]:
    response = requests.get(location, timeout=10)
    assert response.status_code == 200, response.text
    return form_fields(response.text)


def new_person(platform: Platform, role: str) -> str:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    platform.people[name] = {
        "email": f"{name}@lms.school",
        "name": f"{role.title()} {name[-6:]}",
        "roles": [INSTRUCTOR if role == "teacher" else LEARNER],
    }
    return name
