"""The relying party's half of OpenID Connect Core 1.0: the authorization code flow with PKCE.

Discovery (OpenID Connect Discovery 1.0), the authorization request, the code exchange
(Authlib's OAuth 2.0 client), the ID token checks of Core section 3.1.3.7 (joserfc verifies
the signature with the provider's JWKS) and the UserInfo request of section 5.3.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal.plugins import NotAuthenticated, ServiceUnavailable
from portal.plugins.i18n import gettext
from portal_sso_oidc.settings import OidcSettings

WELL_KNOWN = "/.well-known/openid-configuration"
METADATA_TTL_SECONDS = 3600
# Clock skew tolerated between the provider and the portal.
LEEWAY_SECONDS = 120
# An ID token issued longer ago than this is not a fresh answer to our request.
MAX_ID_TOKEN_AGE_SECONDS = 600
SIGNING_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_auth_method: str


@dataclass(frozen=True)
class LoginRequest:
    """What the callback must see again: kept in a signed cookie of this browser."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str


def _cache() -> dict[str, tuple[float, Any]]:
    return current_app.extensions.setdefault("sso_oidc.cache", {})


def _unreachable(settings: OidcSettings) -> ServiceUnavailable:
    return ServiceUnavailable(
        gettext(
            "The sign-in service of %(provider)s is not reachable right now; "
            "try again in a few minutes",
            provider=settings.label,
        ),
        code="oidc_unreachable",
    )


def _get_json(settings: OidcSettings, url: str, **kwargs: Any) -> dict[str, Any]:
    """GET a JSON document; a GET is safe to repeat, so a network failure is retried once."""
    for attempt in (1, 2):
        try:
            response = requests.get(url, timeout=settings.timeout_seconds, **kwargs)
            response.raise_for_status()
            document = response.json()
        except (requests.ConnectionError, requests.Timeout):
            if attempt == 2:
                raise _unreachable(settings) from None
            continue
        except (requests.HTTPError, ValueError):
            raise _unreachable(settings) from None
        if not isinstance(document, dict):
            raise _unreachable(settings)
        return document
    raise _unreachable(settings)


def _issuer_of(discovery_url: str) -> str:
    return discovery_url[: -len(WELL_KNOWN)] if discovery_url.endswith(WELL_KNOWN) else ""


def metadata(settings: OidcSettings) -> Metadata:
    cached = _cache().get("metadata:" + settings.discovery_url)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    document = _get_json(settings, settings.discovery_url)
    expected_issuer = _issuer_of(settings.discovery_url)
    # Discovery section 4.3: the issuer must be the one the discovery URL was built from.
    if expected_issuer and document.get("issuer") != expected_issuer:
        raise ServiceUnavailable(
            gettext(
                "The sign-in service of %(provider)s announces another issuer ('%(issuer)s'); "
                "check SSO_OIDC_DISCOVERY_URL",
                provider=settings.label,
                issuer=document.get("issuer"),
            ),
            code="oidc_issuer_mismatch",
        )
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    try:
        found = Metadata(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            jwks_uri=str(document["jwks_uri"]),
            userinfo_endpoint=document.get("userinfo_endpoint"),
            end_session_endpoint=document.get("end_session_endpoint"),
            token_auth_method=(
                "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
            ),
        )
    except KeyError as exc:
        raise ServiceUnavailable(
            gettext(
                "The sign-in service of %(provider)s publishes incomplete metadata "
                "(%(field)s missing)",
                provider=settings.label,
                field=exc.args[0],
            ),
            code="oidc_metadata_invalid",
        ) from exc
    _cache()["metadata:" + settings.discovery_url] = (
        time.monotonic() + METADATA_TTL_SECONDS,
        found,
    )
    return found


def cached_end_session_endpoint(settings: OidcSettings) -> str | None:
    cached = _cache().get("metadata:" + settings.discovery_url)
    return cached[1].end_session_endpoint if cached else None


def _keys(settings: OidcSettings, meta: Metadata, refresh: bool = False) -> KeySet:
    key = "jwks:" + meta.jwks_uri
    cached = _cache().get(key)
    if cached and not refresh and cached[0] > time.monotonic():
        return cached[1]
    keys = KeySet.import_key_set(_get_json(settings, meta.jwks_uri))  # type: ignore[arg-type]
    _cache()[key] = (time.monotonic() + METADATA_TTL_SECONDS, keys)
    return keys


def _client(settings: OidcSettings, meta: Metadata, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        settings.client_id,
        settings.client_secret or None,
        scope=settings.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=meta.token_auth_method,
    )


def authorization_url(
    settings: OidcSettings, redirect_uri: str, next_path: str
) -> tuple[str, LoginRequest]:
    meta = metadata(settings)
    login = LoginRequest(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=generate_token(64),
        next_path=next_path,
    )
    url, _state = _client(settings, meta, redirect_uri).create_authorization_url(
        meta.authorization_endpoint,
        state=login.state,
        nonce=login.nonce,
        code_verifier=login.code_verifier,
    )
    return url, login


def _invalid(settings: OidcSettings, why: str) -> NotAuthenticated:
    return NotAuthenticated(
        gettext(
            "The answer of %(provider)s's sign-in could not be trusted (%(reason)s); "
            "start the sign-in again",
            provider=settings.label,
            reason=why,
        ),
        code="oidc_id_token_invalid",
    )


def verify_id_token(
    settings: OidcSettings, meta: Metadata, id_token: str, nonce: str
) -> dict[str, Any]:
    """The checks of OpenID Connect Core 3.1.3.7; returns the token's claims."""
    try:
        try:
            token = jwt.decode(id_token, _keys(settings, meta), algorithms=SIGNING_ALGORITHMS)
        except (ValueError, JoseError):
            # The provider may have rotated its keys since we cached them: fetch them once more.
            token = jwt.decode(
                id_token, _keys(settings, meta, refresh=True), algorithms=SIGNING_ALGORITHMS
            )
    except (ValueError, JoseError) as exc:
        raise _invalid(settings, "bad signature") from exc
    claims = dict(token.claims)
    if claims.get("iss") != meta.issuer:
        raise _invalid(settings, "wrong issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    if settings.client_id not in audiences:
        raise _invalid(settings, "issued for another application")
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != settings.client_id:
        raise _invalid(settings, "wrong authorized party")
    now = time.time()
    try:
        expires, issued = float(claims["exp"]), float(claims["iat"])
    except (KeyError, TypeError, ValueError):
        raise _invalid(settings, "no validity period") from None
    if expires < now - LEEWAY_SECONDS:
        raise _invalid(settings, "expired")
    if issued > now + LEEWAY_SECONDS or issued < now - MAX_ID_TOKEN_AGE_SECONDS:
        raise _invalid(settings, "not issued now")
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise _invalid(settings, "nonce mismatch")
    if not claims.get("sub"):
        raise _invalid(settings, "no subject")
    return claims


def complete(
    settings: OidcSettings, redirect_uri: str, login: LoginRequest, code: str
) -> tuple[str, dict[str, Any]]:
    """Exchange the code, verify the ID token, read UserInfo: (issuer, merged claims)."""
    meta = metadata(settings)
    client = _client(settings, meta, redirect_uri)
    try:
        # Not retried: a code is single-use, a second attempt would be refused anyway.
        token = client.fetch_token(
            meta.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=login.code_verifier,
            timeout=settings.timeout_seconds,
        )
    except (requests.ConnectionError, requests.Timeout):
        raise _unreachable(settings) from None
    except OAuthError as exc:
        raise NotAuthenticated(
            gettext(
                "%(provider)s refused this sign-in (%(reason)s); start the sign-in again",
                provider=settings.label,
                reason=exc.error,
            ),
            code="oidc_code_rejected",
        ) from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise _invalid(settings, "no ID token")
    claims = verify_id_token(settings, meta, id_token, login.nonce)
    if meta.userinfo_endpoint and token.get("access_token"):
        info = _get_json(
            settings,
            meta.userinfo_endpoint,
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        # Core 5.3.2: UserInfo about someone else must not be used.
        if info.get("sub") != claims["sub"]:
            raise _invalid(settings, "UserInfo names another person")
        claims = {**info, **claims}
    return meta.issuer, claims


def logout_url(settings: OidcSettings, post_logout_redirect_uri: str) -> str | None:
    """RP-Initiated Logout 1.0, identified by client_id (no ID token is kept by the portal)."""
    try:
        meta = metadata(settings)
    except ServiceUnavailable:
        return None
    if not meta.end_session_endpoint:
        return None
    request = requests.Request(
        "GET",
        meta.end_session_endpoint,
        params={
            "client_id": settings.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        },
    )
    return str(request.prepare().url)
