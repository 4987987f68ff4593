"""flask-jwt-extended wiring: who a token belongs to, revocation, and error answers."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, g, request
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from flask_jwt_extended.exceptions import NoAuthorizationError
from jwt import api_jws

from portal.core import auth_tokens
from portal.core.models import User
from portal.errors import error_response
from portal.extensions import db, jwt

_last_parse = threading.local()


def _parse_each_token_once() -> None:
    """flask-jwt-extended reads one request's token four times through PyJWT (the claims
    unverified, the header, the verified decode, the header again), and each read parses it
    anew: base64 with a per-character alphabet check and JSON, a fifth of an authenticated
    request's CPU. The parse is a pure function of the token's bytes, so each thread keeps
    its last one and the later reads reuse it; the signature is still verified, once, on the
    parsed bytes, and a token that fails to parse fails every read as before."""
    jws = api_jws._jws_global_obj
    if getattr(jws, "_portal_parse_once", False):
        return
    parse = jws._load

    def parse_once(token: str | bytes) -> tuple[bytes, bytes, dict[str, Any], bytes]:
        last = getattr(_last_parse, "entry", None)
        if last is None or last[0] != token:
            last = (token, parse(token))
            _last_parse.entry = last
        payload, signing_input, header, signature = last[1]
        return payload, signing_input, dict(header), signature  # callers own their header

    setattr(jws, "_load", parse_once)  # noqa: B010  (an instance attribute over the method)
    setattr(jws, "_portal_parse_once", True)  # noqa: B010


_VERDICT = "portal.token_verdict"


def verify_request_token(*, optional: bool = False) -> None:
    """verify_jwt_in_request, paid once per request: the rate limiter's key, the endpoint's
    authentication, the page's user and the language of an error each asked for it, and each
    verification ran the revocation query again (two to three a request). A request's token
    is the same at each ask, so its verdict is kept: a valid token stays verified for the
    request and an invalid one fails every ask with the same error. A request without a
    token is asked again each time (cheap: nothing to decode), so an optional ask that found
    none does not let a required one pass. The verdict is kept in the request's environ, not
    in `g`: a request pushed inside an app context already active (tests, CLI calls of the
    test client) shares that context's `g` with the requests before it."""
    verdict = request.environ.get(_VERDICT)
    if isinstance(verdict, Exception):
        raise verdict
    if verdict is not None:
        return
    try:
        verify_jwt_in_request(optional=optional)
    except NoAuthorizationError:
        raise  # no token: nothing was decoded or queried
    except Exception as exc:
        request.environ[_VERDICT] = exc
        raise
    if g.get("_jwt_extended_jwt"):
        request.environ[_VERDICT] = True


def request_user() -> Any:
    """The user the request's token or session cookie belongs to, loaded, or None (no token,
    an invalid, expired or revoked one, or a database that cannot load it)."""
    try:
        verify_request_token(optional=True)
        user = get_current_user()
        if user is not None:
            # A user verified earlier in the request is expired by a commit or rollback since;
            # it is loaded again here, where a database that went down reads as "nobody",
            # not in the error page or locale choice that reads its attributes next.
            user.is_active  # noqa: B018
    except Exception:
        return None
    return user


def init_jwt(app: Flask) -> None:
    _parse_each_token_once()

    @jwt.user_lookup_loader
    def load_user(_header, claims):
        try:
            user = db.session.get(User, int(claims["sub"]))
        except (KeyError, ValueError):
            return None
        if user is None or not user.is_active or auth_tokens.issued_before_cutoff(user, claims):
            return None
        return user

    @jwt.additional_claims_loader
    def token_generation(identity) -> dict:
        # Every token the app creates (sign-in, refresh, plugins' own) carries the user's
        # generation, so "end every session" reaches all of them.
        return auth_tokens.generation_claims(identity)

    @jwt.token_in_blocklist_loader
    def token_revoked(_header, claims) -> bool:
        return auth_tokens.is_revoked(claims)

    @jwt.unauthorized_loader
    def missing_token(reason: str):
        if "CSRF" in reason:
            return error_response(401, "csrf_failed", "the CSRF token is missing; reload the page")
        return error_response(401, "not_authenticated", "sign in first")

    @jwt.invalid_token_loader
    def invalid_token(reason: str):
        return error_response(401, "invalid_token", "your session token is invalid; sign in again")

    @jwt.expired_token_loader
    def expired_token(_header, _claims):
        return error_response(401, "token_expired", "your session has expired; sign in again")

    @jwt.revoked_token_loader
    def revoked_token(_header, _claims):
        return error_response(401, "token_revoked", "you have signed out; sign in again")

    @jwt.user_lookup_error_loader
    def unknown_user(_header, _claims):
        return error_response(
            401, "not_authenticated", "this account no longer exists or is disabled"
        )
