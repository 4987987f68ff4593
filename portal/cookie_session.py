"""Flask's signed-cookie session, with its signing serializer built once per key.

The portal keeps no state in Flask's session (sign-in is a JWT), yet Flask opens it on every
request, and its stock interface builds a new itsdangerous serializer each time: a few
percent of an authenticated API request's CPU. The serializer only holds the keys and
settings, so one per set of keys serves every request.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._built: tuple[Any, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != keys:  # a changed key takes effect at once
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def init_cookie_session(app: Flask) -> None:
    app.session_interface = CachedSerializerSessionInterface()
