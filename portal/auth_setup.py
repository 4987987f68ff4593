"""flask-jwt-extended wiring: who a token belongs to, revocation, and error answers."""

from __future__ import annotations

from flask import Flask

from portal.core import auth_tokens
from portal.core.models import User
from portal.errors import error_response
from portal.extensions import db, jwt


def init_jwt(app: Flask) -> None:
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
