"""Domain errors. The API turns them into {"error": {"code", "message"}} with their status."""

from __future__ import annotations

from typing import Any


class PortalError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        params: dict[str, Any] | None = None,
    ):
        """`message` is the English sentence; a sentence with values in it is its
        template with `params` (`"opens at %(time)s"`, `{"time": ...}`), so that it is
        translated where it is shown, in the reader's language, not where it was raised."""
        self.template = message
        self.params = params or {}
        self.message = message % self.params if params else message
        super().__init__(self.message)
        if code:
            self.code = code
        self.details = details

    @property
    def shown(self) -> str:
        """The message in the current language (the request's, or the one a live event is
        answered in), for a page, an API body or an ack: messages are English in the code."""
        from portal.i18n import gettext

        return gettext(self.template, **self.params)


class ValidationFailed(PortalError):
    status = 400
    code = "validation_error"


class NotAuthenticated(PortalError):
    status = 401
    code = "not_authenticated"


class Forbidden(PortalError):
    status = 403
    code = "forbidden"


class NotFound(PortalError):
    status = 404
    code = "not_found"


class Conflict(PortalError):
    status = 409
    code = "conflict"


class Unprocessable(PortalError):
    status = 422
    code = "unprocessable"


class ServiceUnavailable(PortalError):
    status = 503
    code = "service_unavailable"


class TooManyRequests(PortalError):
    """429; `retry_after` (seconds) becomes the Retry-After header."""

    status = 429
    code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        retry_after: int | None = None,
    ):
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after


class Gone(PortalError):
    """410: the thing existed and ended for good (a revoked or expired invite link)."""

    status = 410
    code = "gone"
