"""A real, certified OpenID provider for the tests: panva/oidc-provider on Node.js, pinned in
op/package-lock.json and installed with `npm ci` on first use, run on 127.0.0.1.

`sign_in_at_provider` plays the person at the provider's development login and consent
forms with plain HTTP, so the API-level tests need no browser."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import requests
from portal_testing import free_port, missing_service

HERE = Path(__file__).resolve().parent / "op"
CLIENT_ID = "classroom-portal"
CLIENT_SECRET = "portal-client-secret-0123456789abcdef"

# The provider's people: the login name is the subject (`sub`).
ACCOUNTS = {
    "ann.teacher": {
        "email": "ann@springfield.school",
        "email_verified": True,
        "name": "Ann Teacher",
        "groups": ["staff", "teachers"],
    },
    "sam.student": {
        "email": "sam@springfield.school",
        "email_verified": True,
        "name": "Sam Student",
        "groups": ["pupils"],
    },
    "ida.admin": {
        "email": "ida@springfield.school",
        "email_verified": True,
        "name": "Ida Admin",
        "groups": ["teachers", "it-admins"],
    },
    "noemail": {"name": "No Email", "groups": ["pupils"]},
}
ROLE_MAP = {"teachers": "teacher", "it-admins": "admin", "pupils": "student"}


def _install_once() -> None:
    """`npm ci` on first use. Parallel test workers each start a provider: the first takes the
    lock and installs, the others wait for it (npm ci deletes node_modules before it writes)."""
    with open(HERE / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (HERE / "node_modules" / "oidc-provider").exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=HERE,
                check=True,
                timeout=300,
            )


class OpenIdProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.discovery_url = self.issuer + "/.well-known/openid-configuration"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        if not shutil.which("node") or not shutil.which("npm"):
            missing_service("Node.js and npm (for the OpenID provider oidc-provider)")
        _install_once()
        client = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            # A native-type client: its loopback redirect URIs match any port (RFC 8252 7.3),
            # so a portal served on an ephemeral port can be registered in advance.
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/sso/oidc/callback"],
            "post_logout_redirect_uris": ["http://127.0.0.1/login"],
            "token_endpoint_auth_method": "client_secret_basic",
        }
        env = {
            **os.environ,
            "OP_PORT": str(self.port),
            "OP_CLIENT": json.dumps(client),
            "OP_ACCOUNTS": json.dumps(ACCOUNTS),
        }
        self.process = subprocess.Popen(
            ["node", "provider.mjs"],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.discovery_url, timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the OpenID provider did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def portal_config(self, **overrides: object) -> dict[str, object]:
        return {
            "SSO_OIDC_DISCOVERY_URL": self.discovery_url,
            "SSO_OIDC_CLIENT_ID": CLIENT_ID,
            "SSO_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "SSO_OIDC_LABEL": "Springfield School",
            "SSO_OIDC_SCOPES": "openid email profile groups",
            "SSO_OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
            **overrides,
        }


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = unescape(re.search(r'<form[^>]*action="([^"]+)"', html).group(1))
    fields = {
        unescape(name): unescape(value)
        for name, value in re.findall(
            r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html
        )
    }
    return action, fields


def sign_in_at_provider(authorization_url: str, login: str) -> str:
    """Log in as `login` at the provider and consent; returns the URL the provider sends the
    browser back to (the portal's redirect URI with code and state), without following it."""
    browser = requests.Session()
    url = authorization_url
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=10)
        while response.is_redirect:
            location = urljoin(url, response.headers["Location"])
            if "/sso/oidc/callback" in location:
                return location
            url = location
            response = browser.get(url, allow_redirects=False, timeout=10)
        action, fields = _form(response.text)
        if fields.get("prompt") == "login":
            fields.update(login=login, password="any")
        response = browser.post(urljoin(url, action), data=fields, allow_redirects=False)
        url = urljoin(url, response.headers["Location"])
        if "/sso/oidc/callback" in url:
            return url
    raise AssertionError("the provider never sent the browser back to the portal")
