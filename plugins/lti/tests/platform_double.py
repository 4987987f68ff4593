"""An LMS as the tool sees it, written from the 1EdTech LTI 1.3 Core specification, the
Security Framework and Names and Role Provisioning Services 2.0: real HTTP on 127.0.0.1,
its own RSA keys, an OIDC authorization endpoint that checks the tool's authentication
request and answers with a signed id_token by form_post, its JWKS, an OAuth2 token endpoint
(client credentials with a signed JWT assertion, verified against the tool's JWKS fetched
over HTTP) and a paged membership container that checks the bearer token's scope."""

from __future__ import annotations

import functools
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
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
# The scopes this platform grants the tool (Security Framework 4.1: the token's scope is the
# requested scopes the platform allows).
GRANTABLE_SCOPES = {NRPS_SCOPE, LINEITEM_SCOPE, SCORE_SCOPE}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@functools.cache
def _platform_key() -> rsa.RSAPrivateKey:
    """The platform's signing key, one per test process: a 2048-bit RSA key costs about 50 ms
    of CPU to generate, and each test's platform is a new server on a port of its own, so no
    test can see another's key cached. A foreign signature comes from `other_key()`."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Platform:
    def __init__(self) -> None:
        self.key = _platform_key()
        self.kid = "platform-key-1"
        self.people: dict[str, dict] = {}
        self.next_launch: dict = {}
        self.auth_requests: list[dict[str, str]] = []
        # Set by the test: where the tool publishes its keys (the portal's /lti/jwks).
        self.tool_jwks_url = ""
        self.used_jti: set[str] = set()
        self.tokens: dict[str, set[str]] = {}
        self.token_answers: list[tuple[int, str]] = []
        # The course's members as NRPS 2.0 lists them (user_id = the LTI sub).
        self.members: list[dict] = []
        self.page_size = 2
        self.membership_requests: list[str] = []
        # Assignment and Grade Services: line items by id, the scores posted to each, and
        # how many score posts to answer 503 first (an LMS having a bad minute).
        self.lineitems: dict[str, dict] = {}
        self.scores: dict[str, list[dict]] = {}
        self.fail_scores = 0
        self.score_attempts = 0
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
                if url.path == "/memberships":
                    page = int(parse_qs(url.query).get("page", ["1"])[0])
                    status, body, headers = outer.memberships(
                        self.headers.get("Authorization", ""), self.headers.get("Accept", ""), page
                    )
                    return self._send(status, "application/json", body, headers)
                if url.path == "/lineitems":
                    status, body = outer.list_lineitems(self.headers.get("Authorization", ""))
                    return self._send(status, "application/json", body)
                return self._send(404, "text/plain", "not found")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                path = urlsplit(self.path).path
                auth = self.headers.get("Authorization", "")
                kind = self.headers.get("Content-Type", "")
                if path == "/token":
                    form = {k: v[0] for k, v in parse_qs(raw).items()}
                    status, body = outer.token(form)
                    outer.token_answers.append((status, body))
                    return self._send(status, "application/json", body)
                if path == "/lineitems":
                    status, body = outer.create_lineitem(auth, kind, raw)
                    return self._send(status, "application/json", body)
                match = re.fullmatch(r"/lineitems/([\w-]+)/scores", path)
                if match:
                    status, body = outer.post_score(auth, kind, match.group(1), raw)
                    return self._send(status, "application/json", body)
                return self._send(404, "text/plain", "not found")

            def _send(self, status, content_type, body, headers=None):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
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
            AGS_CLAIM: {
                "scope": [LINEITEM_SCOPE, SCORE_SCOPE],
                "lineitems": self.issuer + "/lineitems",
            },
            NRPS_CLAIM: {
                "context_memberships_url": self.issuer + "/memberships",
                "service_versions": ["2.0"],
            },
        }
        signing_key = changes.pop("signing_key", self.key)
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": self.kid})

    def token(self, form: dict[str, str]) -> tuple[int, str]:
        """The token endpoint (Security Framework 4.1, RFC 6749 4.4 with an RFC 7523 client
        assertion): the assertion must be signed by a key of the tool's JWKS, fetched over
        HTTP, with iss = sub = the client id, aud = this URL, a fresh jti and an exp."""
        if form.get("grant_type") != "client_credentials":
            return 400, json.dumps({"error": "unsupported_grant_type"})
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return 400, json.dumps({"error": "invalid_request"})
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            keys = requests.get(self.tool_jwks_url, timeout=10).json()["keys"]
            candidates = [k for k in keys if not header.get("kid") or k["kid"] == header["kid"]]
            if not candidates:
                raise jwt.InvalidTokenError("no key of the tool's JWKS has this kid")
            claims = jwt.decode(
                assertion,
                RSAAlgorithm.from_jwk(json.dumps(candidates[0])),
                algorithms=["RS256"],
                audience=self.issuer + "/token",
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except (jwt.InvalidTokenError, requests.RequestException, KeyError, ValueError) as exc:
            return 401, json.dumps({"error": "invalid_client", "error_description": str(exc)})
        if claims["iss"] != CLIENT_ID or claims["sub"] != CLIENT_ID:
            return 401, json.dumps({"error": "invalid_client", "error_description": "iss/sub"})
        if claims["jti"] in self.used_jti:
            return 401, json.dumps({"error": "invalid_client", "error_description": "jti reused"})
        self.used_jti.add(claims["jti"])
        granted = set(form.get("scope", "").split()) & GRANTABLE_SCOPES
        if not granted:
            return 400, json.dumps({"error": "invalid_scope"})
        access_token = uuid.uuid4().hex
        self.tokens[access_token] = granted
        return 200, json.dumps(
            {
                "access_token": access_token,
                "token_type": "bearer",
                "expires_in": 3600,
                "scope": " ".join(sorted(granted)),
            }
        )

    def scope_of(self, authorization: str) -> set[str]:
        kind, _, value = authorization.partition(" ")
        return self.tokens.get(value, set()) if kind.lower() == "bearer" else set()

    def memberships(self, authorization: str, accept: str, page: int):
        """The membership container (NRPS 2.0, section 2), `page_size` members a page, the
        next page named by a Link header with rel="next"."""
        self.membership_requests.append(authorization)
        if NRPS_SCOPE not in self.scope_of(authorization):
            return 401, json.dumps({"error": "this token does not grant membership"}), {}
        if "application/vnd.ims.lti-nrps.v2.membershipcontainer+json" not in accept:
            return 406, json.dumps({"error": "unsupported media type"}), {}
        start = (page - 1) * self.page_size
        members = self.members[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(self.members):
            headers["Link"] = f'<{self.issuer}/memberships?page={page + 1}>; rel="next"'
        body = {
            "id": self.issuer + "/memberships",
            "context": {"id": "course-7", "title": "Maths 7B"},
            "members": members,
        }
        return 200, json.dumps(body), headers

    def list_lineitems(self, authorization: str) -> tuple[int, str]:
        """The line items container (AGS 2.0, 3.2)."""
        if LINEITEM_SCOPE not in self.scope_of(authorization):
            return 401, json.dumps({"error": "this token does not grant line items"})
        return 200, json.dumps(list(self.lineitems.values()))

    def create_lineitem(self, authorization: str, content_type: str, raw: str):
        """POST a line item (AGS 2.0, 3.2.1): label and a positive scoreMaximum required."""
        if LINEITEM_SCOPE not in self.scope_of(authorization):
            return 401, json.dumps({"error": "this token does not grant line items"})
        if content_type != "application/vnd.ims.lis.v2.lineitem+json":
            return 415, json.dumps({"error": f"wrong media type {content_type}"})
        item = json.loads(raw)
        if not item.get("label") or not float(item.get("scoreMaximum") or 0) > 0:
            return 400, json.dumps({"error": "label and scoreMaximum > 0 are required"})
        number = str(len(self.lineitems) + 1)
        item["id"] = f"{self.issuer}/lineitems/{number}"
        self.lineitems[number] = item
        self.scores[number] = []
        return 201, json.dumps(item)

    def post_score(self, authorization: str, content_type: str, number: str, raw: str):
        """POST a score to a line item's /scores (AGS 2.0, 3.4): the required fields and
        values of the Score publish service."""
        self.score_attempts += 1
        if SCORE_SCOPE not in self.scope_of(authorization):
            return 401, json.dumps({"error": "this token does not grant scores"})
        if self.fail_scores > 0:
            self.fail_scores -= 1
            return 503, json.dumps({"error": "the gradebook is busy"})
        if number not in self.lineitems:
            return 404, json.dumps({"error": "no such line item"})
        if content_type != "application/vnd.ims.lis.v1.score+json":
            return 415, json.dumps({"error": f"wrong media type {content_type}"})
        score = json.loads(raw)
        missing = [
            k
            for k in ("userId", "timestamp", "activityProgress", "gradingProgress")
            if not score.get(k)
        ]
        if missing or ("scoreGiven" in score) != ("scoreMaximum" in score):
            return 400, json.dumps({"error": f"missing {missing or 'scoreMaximum'}"})
        self.scores[number].append(score)
        return 200, json.dumps({})

    def deep_linking_request(self, data: str) -> dict:
        """The claims of an LtiDeepLinkingRequest (Deep Linking 2.0, 4.4) to launch with."""
        return {
            CLAIM + "message_type": "LtiDeepLinkingRequest",
            CLAIM + "resource_link": None,
            DL_CLAIM + "deep_linking_settings": {
                "deep_link_return_url": self.issuer + "/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": False,
                "data": data,
            },
        }

    def check_deep_link_response(self, token: str, data: str) -> list[dict]:
        """The platform's checks of an LtiDeepLinkingResponse (Deep Linking 2.0, 4.5 and
        the Security Framework 5.2): signed by a key of the tool's JWKS (fetched over
        HTTP), iss = the client id, aud = this platform's issuer, the deployment id, the
        message type, the version, the request's data echoed. Returns the content items."""
        header = jwt.get_unverified_header(token)
        keys = requests.get(self.tool_jwks_url, timeout=10).json()["keys"]
        [key] = [k for k in keys if k["kid"] == header["kid"]]
        claims = jwt.decode(
            token,
            RSAAlgorithm.from_jwk(json.dumps(key)),
            algorithms=["RS256"],
            audience=self.issuer,
            issuer=CLIENT_ID,
            options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
        )
        assert claims[CLAIM + "deployment_id"] == DEPLOYMENT
        assert claims[CLAIM + "message_type"] == "LtiDeepLinkingResponse"
        assert claims[CLAIM + "version"] == "1.3.0"
        assert claims[DL_CLAIM + "data"] == data
        items = claims[DL_CLAIM + "content_items"]
        assert items and all(item["type"] == "ltiResourceLink" for item in items)
        return items

    def add_member(self, person: str, status: str = "Active") -> None:
        who = self.people[person]
        self.members = [m for m in self.members if m["user_id"] != person]
        self.members.append(
            {
                "user_id": person,
                "status": status,
                "name": who["name"],
                "email": who["email"],
                "roles": who["roles"],
            }
        )

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
