"""Checking the JWTs insp sends (login, back-channel logout) and signing the portal's own.

Every refusal is a TokenRejected (401) whose message tells a person what went wrong; the
token itself is never echoed back.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from flask import current_app

from portal.plugins import NotAuthenticated, ServiceUnavailable
from portal.plugins.i18n import gettext
from portal_sso_insp.settings import HMAC_ALGORITHMS, InspSettings

# The OpenID Connect Back-Channel Logout 1.0 event a logout token must carry.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

LOGIN_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "jti", "email", "name", "role"]
LOGOUT_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "jti", "events"]
MAX_TOKEN_CHARS = 16_384
# Column sizes of users.name / users.email: longer values must be refused, not crash the insert.
MAX_LENGTHS = {"email": 255, "name": 200, "role": 64}


class TokenRejected(NotAuthenticated):
    code = "sso_token_rejected"


def _jwks_client(settings: InspSettings, jwks_url: str) -> jwt.PyJWKClient:
    """One cached client per app and URL: keys are fetched once and re-fetched on an unknown kid."""
    clients = current_app.extensions.setdefault("sso_insp.jwks_clients", {})
    cache_key = (jwks_url, settings.jwks_cache_seconds, settings.jwks_cooldown_seconds)
    client = clients.get(cache_key)
    if client is None:
        client = jwt.PyJWKClient(
            jwks_url,
            cache_jwk_set=True,
            lifespan=max(1, settings.jwks_cache_seconds),
            timeout=settings.jwks_timeout_seconds,
            # Limits re-fetches caused by tokens naming unknown kids (a cheap DoS on insp).
            cooldown_duration=settings.jwks_cooldown_seconds,
        )
        clients[cache_key] = client
    return client


def _verification_key(settings: InspSettings, alg: str, header: dict[str, Any]) -> Any:
    # Each algorithm family has its own key, so a public key is never used as an HMAC secret.
    if alg in HMAC_ALGORITHMS:
        return settings.hs_secret
    kid = header.get("kid")
    if settings.jwks_url and (kid or not settings.public_key):
        if not isinstance(kid, str) or not kid:
            raise TokenRejected(
                "the sign-in token does not say which key signed it (kid)", code="unknown_key"
            )
        try:
            return _jwks_client(settings, settings.jwks_url).get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise ServiceUnavailable(
                "the portal cannot fetch the main website's "
                "signing keys right now; try again in a minute",
                code="sso_keys_unavailable",
            ) from exc
        except (jwt.PyJWKClientError, jwt.PyJWKError, jwt.PyJWKSetError) as exc:
            raise TokenRejected(
                "the sign-in token was signed with a key the main website does not publish",
                code="unknown_key",
            ) from exc
    return settings.public_key


def _decode(settings: InspSettings, token: Any, required: list[str]) -> dict[str, Any]:
    if not settings.configured or not settings.algorithms:
        raise ServiceUnavailable(
            "sign-in from the main website is not set up on this portal", code="sso_not_configured"
        )
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected("the sign-in token is missing or malformed", code="token_malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected("the sign-in token is not a valid JWT", code="token_malformed") from exc
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in settings.algorithms:
        raise TokenRejected(
            gettext(
                "the sign-in token uses the algorithm '%(algorithm)s', which this portal does "
                "not accept",
                algorithm=alg,
            ),
            code="algorithm_refused",
        )
    key = _verification_key(settings, alg, header)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=settings.leeway,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejected(
            "the sign-in link has expired; go back to the main website and click again",
            code="token_expired",
        ) from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenRejected(
            "the sign-in token is not valid yet; check the clocks of both servers",
            code="token_not_yet_valid",
        ) from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenRejected(
            "the sign-in token was made for another site (wrong audience)", code="wrong_audience"
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRejected(
            "the sign-in token comes from an unknown issuer", code="wrong_issuer"
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejected(
            gettext("the sign-in token lacks the required claim '%(claim)s'", claim=exc.claim),
            code="missing_claim",
        ) from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRejected("the sign-in token's signature is wrong", code="bad_signature") from exc
    except jwt.PyJWTError as exc:
        raise TokenRejected(
            gettext("the sign-in token is invalid (%(reason)s)", reason=exc), code="token_invalid"
        ) from exc
    # Long-lived tokens in URLs are a liability: insp must mint them right before redirecting.
    if claims["exp"] - claims["iat"] > settings.max_lifetime:
        raise TokenRejected(
            gettext(
                "the sign-in token is valid for too long (at most %(seconds)s seconds allowed)",
                seconds=settings.max_lifetime,
            ),
            code="token_lifetime",
        )
    if not isinstance(claims["jti"], str) or not 0 < len(claims["jti"]) <= 255:
        raise TokenRejected(
            "the sign-in token's jti must be a string of 1 to 255 characters", code="claim_invalid"
        )
    if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= 255:
        raise TokenRejected(
            "the sign-in token's sub must be a string of 1 to 255 characters", code="claim_invalid"
        )
    return claims


def verify_login_token(settings: InspSettings, token: Any) -> dict[str, Any]:
    claims = _decode(settings, token, LOGIN_CLAIMS)
    if "events" in claims:
        # A logout token must never open a session.
        raise TokenRejected("this is a logout token, not a sign-in token", code="wrong_token_type")
    for name, limit in MAX_LENGTHS.items():
        if not isinstance(claims[name], str) or not 0 < len(claims[name].strip()) <= limit:
            raise TokenRejected(
                gettext(
                    "the sign-in token's '%(claim)s' claim must be a non-empty string of at "
                    "most %(max)s characters",
                    claim=name,
                    max=limit,
                ),
                code="claim_invalid",
            )
    phone = claims.get("phone")
    if phone is not None and not isinstance(phone, str):
        raise TokenRejected(
            "the sign-in token's 'phone' claim must be a string", code="claim_invalid"
        )
    return claims


def verify_logout_token(settings: InspSettings, token: Any) -> dict[str, Any]:
    claims = _decode(settings, token, LOGOUT_CLAIMS)
    events = claims["events"]
    if not isinstance(events, dict) or LOGOUT_EVENT not in events:
        raise TokenRejected(
            gettext("a logout token must carry the event %(event)s", event=LOGOUT_EVENT),
            code="wrong_token_type",
        )
    if "nonce" in claims:
        raise TokenRejected("a logout token must not carry a nonce", code="wrong_token_type")
    return claims


def make_link_token(
    settings: InspSettings, *, subject: str, user: Any, now: int | None = None
) -> str:
    """The short-lived token with which the portal sends a user back to insp signed in."""
    if not settings.link_secret:  # the link view checks link_enabled first
        raise RuntimeError("SSO_INSP_LINK_SECRET is not set")
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": settings.link_issuer,
        "aud": settings.link_audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + settings.link_ttl,
        "jti": secrets.token_urlsafe(18),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "portal_user_id": user.id,
    }
    return jwt.encode(claims, settings.link_secret, algorithm="HS256")


def make_login_token(
    settings: InspSettings,
    *,
    subject: str,
    email: str,
    name: str,
    role: str,
    phone: str | None = None,
    ttl: int = 120,
    private_key: str | None = None,
    kid: str | None = None,
) -> str:
    """A token as insp would send it (for `portal sso make-token` and manual tests)."""
    issued = int(time.time())
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject,
        "iat": issued,
        "exp": issued + ttl,
        "jti": secrets.token_urlsafe(18),
        "email": email,
        "name": name,
        "role": role,
    }
    if phone:
        claims["phone"] = phone
    if private_key:
        return jwt.encode(
            claims, private_key, algorithm="RS256", headers={"kid": kid} if kid else None
        )
    if not settings.hs_secret:
        raise ValueError("no SSO_INSP_HS256_SECRET configured; pass a private key for RS256")
    return jwt.encode(claims, settings.hs_secret, algorithm="HS256")
