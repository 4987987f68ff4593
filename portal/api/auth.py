from __future__ import annotations

import contextlib

from flask import current_app, jsonify, request
from flask_jwt_extended import (
    decode_token,
    get_jwt,
    get_jwt_request_location,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import AccessTokenOut, LoginIn, PasswordChangeIn, TokensOut, UserOut
from portal.core import auth_tokens, unit_of_work, users
from portal.core.models import User
from portal.extensions import limiter


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@endpoint(
    api,
    "/auth/login",
    "POST",
    summary="Sign in with email and password",
    body=LoginIn,
    response=TokensOut,
    auth=False,
    tags=["auth"],
    errors=[401, 429],
    decorators=[limiter.limit(_login_limit)],
)
def login(body: LoginIn):
    user = users.authenticate(body.email, body.password)
    unit_of_work.commit()
    return _session_response(user, *auth_tokens.issue_session(user), cookies=True)


def _session_response(user: User, access: str, refresh: str, *, cookies: bool):
    payload = TokensOut(
        access_token=access,
        refresh_token=refresh,
        user=UserOut.model_validate(user),
        expires_in=int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    )
    response = jsonify(payload.model_dump(mode="json"))
    if cookies:
        set_access_cookies(response, access)
        set_refresh_cookies(response, refresh)
    return response, 200


@endpoint(
    api,
    "/auth/refresh",
    "POST",
    summary="Exchange a refresh token for a new access token",
    response=AccessTokenOut,
    auth=False,
    tags=["auth"],
    errors=[401, 429],
    decorators=[limiter.limit(_login_limit)],
)
def refresh():
    verify_jwt_in_request(refresh=True)
    user = current_actor()
    access = auth_tokens.refreshed_access_token(user, get_jwt())
    response = jsonify(
        AccessTokenOut(
            access_token=access,
            expires_in=int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
        ).model_dump()
    )
    set_access_cookies(response, access)
    return response, 200


@endpoint(
    api,
    "/auth/password",
    "POST",
    summary="Change your own password; every other session ends",
    body=PasswordChangeIn,
    response=TokensOut,
    tags=["auth"],
)
def change_password(body: PasswordChangeIn):
    actor = current_actor()
    users.change_password(actor, body.current_password, body.new_password)
    # The change ended every session of this user, this one too: it goes on with fresh
    # tokens (same session id, so signing out later still ends it), in the same place.
    tokens = auth_tokens.issue_session(actor, session_id=get_jwt().get(auth_tokens.SESSION_CLAIM))
    return _session_response(actor, *tokens, cookies=get_jwt_request_location() == "cookies")


@endpoint(
    api,
    "/auth/logout",
    "POST",
    summary="Revoke the current session's tokens and clear cookies",
    tags=["auth"],
    produces={"application/json": {"type": "object"}},
)
def logout():
    # Revoking the access token revokes its session, the refresh token with it.
    auth_tokens.revoke(get_jwt())
    refresh_token = request.cookies.get(current_app.config["JWT_REFRESH_COOKIE_NAME"])
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("refresh_token"), str):
        refresh_token = body["refresh_token"]
    if refresh_token:
        # An already invalid refresh token needs no revocation.
        with contextlib.suppress(Exception):
            auth_tokens.revoke(decode_token(refresh_token))
    unit_of_work.commit()
    response = jsonify({})
    unset_jwt_cookies(response)
    return response, 200


@endpoint(api, "/auth/me", summary="The signed-in user", response=UserOut, tags=["auth"])
def me():
    return UserOut.model_validate(current_actor())
