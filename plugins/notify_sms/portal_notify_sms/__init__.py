"""SMS notifications for the classroom portal through Twilio's Programmable Messaging API.

Config (PORTAL_* keys, read at send time): TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, and
TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID. Delivery reports arrive at
/hooks/twilio/sms-status and are accepted only with a valid X-Twilio-Signature.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from flask import Blueprint, abort, current_app, request

from portal.plugins import (
    DeliveryResult,
    NotificationMessage,
    NotificationStatus,
    hookimpl,
    services,
)
from portal_notify_sms.segments import fit, segment_count

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TWILIO_API = "https://api.twilio.com"
STATUS_PATH = "/hooks/twilio/sms-status"
# Twilio errors that will not go away by retrying the same request.
PERMANENT_CODES = {21211, 21408, 21610, 21612, 21614, 21606, 21603, 21604, 21602, 21617, 20003}


def _cfg(name: str, default: Any = None) -> Any:
    value = current_app.config.get(name)
    return default if value in (None, "") else value


def status_callback_url() -> str | None:
    if str(_cfg("TWILIO_STATUS_CALLBACK", "true")).lower() in ("false", "0", "no", "off"):
        return None
    return str(
        _cfg("TWILIO_STATUS_CALLBACK_URL")
        or current_app.config["BASE_URL"].rstrip("/") + STATUS_PATH
    )


def _http_client(api_base: str | None, timeout: float) -> Any:
    from twilio.http.http_client import TwilioHttpClient

    class Client(TwilioHttpClient):
        """Sends Twilio's own requests to another base URL (a regional proxy, or a test double)."""

        def request(self, method, url, *args, **kwargs):
            if api_base and url.startswith(TWILIO_API):
                url = api_base.rstrip("/") + url[len(TWILIO_API) :]
            return super().request(method, url, *args, **kwargs)

    return Client(timeout=timeout)


class TwilioNotifier:
    channel = "sms"
    name = "twilio"

    def __init__(self) -> None:
        self._clients: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def is_configured(self) -> bool:
        return bool(
            _cfg("TWILIO_ACCOUNT_SID")
            and _cfg("TWILIO_AUTH_TOKEN")
            and (_cfg("TWILIO_FROM_NUMBER") or _cfg("TWILIO_MESSAGING_SERVICE_SID"))
        )

    def _client(self) -> Any:
        from twilio.rest import Client

        key = (
            str(_cfg("TWILIO_ACCOUNT_SID")),
            str(_cfg("TWILIO_AUTH_TOKEN")),
            _cfg("TWILIO_API_BASE"),
        )
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = Client(
                    key[0],
                    key[1],
                    http_client=_http_client(key[2], float(_cfg("TWILIO_TIMEOUT", 15))),
                )
        return client

    @property
    def rate_per_second(self) -> float | None:
        value = _cfg("TWILIO_RATE_PER_SECOND")
        return float(value) if value else None

    def send(self, message: NotificationMessage) -> DeliveryResult:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        to = message.recipient
        if not E164.match(to or ""):
            return DeliveryResult(status="failed", error=f"not an E.164 phone number: {to!r}")
        body = fit(message.text, int(_cfg("SMS_MAX_SEGMENTS", 2)))
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if _cfg("TWILIO_MESSAGING_SERVICE_SID"):
            kwargs["messaging_service_sid"] = str(_cfg("TWILIO_MESSAGING_SERVICE_SID"))
        else:
            kwargs["from_"] = str(_cfg("TWILIO_FROM_NUMBER"))
        callback = status_callback_url()
        if callback:
            kwargs["status_callback"] = callback
        try:
            created = self._client().messages.create(**kwargs)
        except TwilioRestException as exc:
            retryable = exc.status == 429 or exc.status >= 500 or exc.code == 20429
            retryable = retryable and exc.code not in PERMANENT_CODES
            return DeliveryResult(
                status="failed",
                retryable=retryable,
                error=f"Twilio {exc.status} (code {exc.code}): {exc.msg}"[:1000],
            )
        except (TwilioException, OSError) as exc:
            return DeliveryResult(status="failed", retryable=True, error=f"Twilio: {exc}"[:1000])
        except Exception as exc:  # requests' ConnectionError and friends
            if type(exc).__module__.startswith(("requests", "urllib3")):
                return DeliveryResult(
                    status="failed", retryable=True, error=f"Twilio: {exc}"[:1000]
                )
            raise
        if created.status in ("failed", "undelivered"):
            return DeliveryResult(
                status="failed",
                provider_id=created.sid,
                error=f"Twilio: {created.status} ({created.error_code})",
            )
        return DeliveryResult(status="queued", provider_id=created.sid)


sms_hooks = Blueprint("notify_sms", __name__)


@sms_hooks.post(STATUS_PATH)
def twilio_status():
    """Twilio's delivery report for one message; signed with the account's auth token."""
    from twilio.request_validator import RequestValidator

    token = _cfg("TWILIO_AUTH_TOKEN")
    url = status_callback_url()
    signature = request.headers.get("X-Twilio-Signature", "")
    if (
        not token
        or not url
        or not RequestValidator(str(token)).validate(url, request.form, signature)
    ):
        abort(403)
    sid = request.form.get("MessageSid", "")
    status = request.form.get("MessageStatus", "")
    error_code = request.form.get("ErrorCode")
    with services.unit_of_work():
        if status in ("delivered",):
            services.record_provider_status("sms", sid, NotificationStatus.SENT)
        elif status in ("failed", "undelivered"):
            services.record_provider_status(
                "sms",
                sid,
                NotificationStatus.FAILED,
                f"Twilio: {status}" + (f" (error {error_code})" if error_code else ""),
            )
    return "", 204


@hookimpl
def register_notifiers(register) -> None:
    register(TwilioNotifier())


@hookimpl
def register_blueprints(app) -> None:
    app.register_blueprint(sms_hooks)


__all__ = ["TwilioNotifier", "fit", "segment_count"]
