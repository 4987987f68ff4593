"""Every error becomes {"error": {"code", "message"}} on the API and a readable page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_jwt_extended.exceptions import CSRFError, JWTExtendedException
from jwt import PyJWTError
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from portal.core.errors import PortalError
from portal.i18n import gettext

log = logging.getLogger("portal.errors")


def wants_json() -> bool:
    """The API, clients asking for JSON, and blueprints of machine callers (webhooks, event
    receivers: `blueprint.json_errors = True`), whose clients often send `Accept: */*`."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return True
    blueprint = current_app.blueprints.get(request.blueprint or "")
    return bool(getattr(blueprint, "json_errors", False))


def error_response(status: int, code: str, message: str, details=None):
    # Messages are English in the code and translated here, as they are shown: the codes
    # stay the same stable identifiers in every language.
    message = gettext(message)
    body = {"error": {"code": code, "message": message, "request_id": g.get("request_id", "")}}
    if details is not None:
        body["error"]["details"] = details
    if wants_json() or not request.accept_mimetypes.accept_html:
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message), status


def init_error_handlers(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def portal_error(exc: PortalError):
        response = error_response(exc.status, exc.code, exc.shown, exc.details)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response = app.make_response(response)
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(
            401, "csrf_failed", "the form's CSRF token is missing or wrong; reload the page"
        )

    @app.errorhandler(JWTExtendedException)
    def jwt_error(exc: JWTExtendedException):
        return error_response(401, "invalid_token", "your session token is invalid; sign in again")

    @app.errorhandler(PyJWTError)
    def pyjwt_error(exc: PyJWTError):
        return error_response(401, "invalid_token", "your session token is invalid; sign in again")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        codes = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            415: "unsupported_media_type",
            429: "rate_limited",
        }
        messages = {
            404: gettext("nothing here"),
            413: gettext(
                "the request is too large (limit %(size)s MB)",
                size=app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024),
            ),
            429: gettext("too many requests; wait a moment and try again"),
        }
        status = exc.code or 500
        response = app.make_response(
            error_response(
                status,
                codes.get(status, "http_error"),
                messages.get(status, exc.description or exc.name),
            )
        )
        # The exception's own headers: a 405 must say which methods the URL has (`Allow`,
        # RFC 9110), a 401 may carry WWW-Authenticate.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def database_down(exc: Exception):
        # The database restarted or is unreachable: the pool drops its stale connections
        # and the next request reconnects; this one was rolled back, so nothing is
        # half-written. Say so, as a 503.
        from portal.extensions import db

        log.warning(
            "database unavailable on %s %s: %s", request.method, request.path, type(exc).__name__
        )
        try:
            db.session.rollback()
        except Exception:  # the connection is already gone; the pool discards it
            log.debug("rollback after a lost connection failed", exc_info=True)
        return error_response(
            503,
            "database_unavailable",
            "the database is not reachable right now; nothing was saved, try again in a moment",
        )

    @app.errorhandler(sa_exc.DataError)
    def data_error(exc: Exception):
        # Last line of defence behind input validation: a value the database column cannot
        # hold (an out-of-range number, an over-long text on PostgreSQL) is the caller's error.
        from portal.extensions import db

        log.warning(
            "value refused by the database on %s %s: %s",
            request.method,
            request.path,
            str(getattr(exc, "orig", exc)).splitlines()[0][:200],
        )
        db.session.rollback()
        return error_response(
            400, "value_out_of_range", "a value is too large or too long to be stored"
        )

    @app.errorhandler(RedisError)
    def redis_down(exc: Exception):
        # Redis carries live features (chat rate limits, presence, the Socket.IO queue):
        # when it is down those answer 503 while pages, sign-in and joins keep working.
        log.warning(
            "Redis unavailable on %s %s: %s", request.method, request.path, type(exc).__name__
        )
        return error_response(
            503,
            "live_unavailable",
            "live features are unavailable for a moment; "
            "the class itself is not affected, try again",
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500,
            "internal_error",
            "something went wrong on our side; the error was logged with this request id",
        )
