"""A local stand-in for Twilio's Programmable Messaging REST API (2010-04-01), for tests.

Same paths, form fields, HTTP Basic auth, JSON bodies and error objects as the real API
(https://www.twilio.com/docs/messaging/api/message-resource), and it signs status
callbacks the way Twilio does (X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed
by the sorted POST parameters, keyed with the auth token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Messages\.json$")


def _segments(body: str) -> int:
    gsm = all(ord(c) < 128 and c not in "`" for c in body)  # close enough for a double
    single, per = (160, 153) if gsm else (70, 67)
    n = len(body) if gsm else len(body.encode("utf-16-le")) // 2
    return 1 if n <= single else -(-n // per)


class TwilioDouble:
    def __init__(self, account_sid: str, auth_token: str):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict] = []
        self.requests: list[dict] = []
        # (http status, twilio code, message) answers to give before accepting again
        self.fail_next: list[tuple[int, int, str]] = []
        self.lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, code: int, message: str) -> None:
                self._reply(
                    status,
                    {
                        "code": code,
                        "message": message,
                        "status": status,
                        "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    },
                )

            def do_GET(self):
                self._error(404, 20404, "The requested resource was not found")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with double.lock:
                    double.requests.append(
                        {"path": self.path, "form": form, "headers": dict(self.headers)}
                    )
                match = PATH.match(self.path)
                if not match:
                    return self._error(404, 20404, "The requested resource was not found")
                if not double._authorised(self.headers.get("Authorization", ""), match["account"]):
                    return self._error(401, 20003, "Authenticate")
                if (
                    self.headers.get("Content-Type", "").split(";")[0]
                    != "application/x-www-form-urlencoded"
                ):
                    return self._error(
                        400, 20001, "Content-Type must be application/x-www-form-urlencoded"
                    )
                with double.lock:
                    failure = double.fail_next.pop(0) if double.fail_next else None
                if failure:
                    return self._error(*failure)
                to, body = form.get("To", ""), form.get("Body", "")
                sender, service = form.get("From"), form.get("MessagingServiceSid")
                if not to:
                    return self._error(400, 21604, "A 'To' phone number is required.")
                if not E164.match(to):
                    return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
                if not sender and not service:
                    return self._error(
                        400,
                        21603,
                        "A 'From' or 'MessagingServiceSid' "
                        "parameter is required to send a message.",
                    )
                if not body:
                    return self._error(400, 21602, "Message body is required.")
                if len(body) > 1600:
                    return self._error(
                        400,
                        21617,
                        "The concatenated message body exceeds the 1600 character limit.",
                    )
                sid = "SM" + uuid.uuid4().hex
                now = format_datetime(datetime.now(UTC))
                message = {
                    "account_sid": match["account"],
                    "api_version": "2010-04-01",
                    "body": body,
                    "date_created": now,
                    "date_sent": None,
                    "date_updated": now,
                    "direction": "outbound-api",
                    "error_code": None,
                    "error_message": None,
                    "from": sender,
                    "messaging_service_sid": service,
                    "num_media": "0",
                    "num_segments": str(_segments(body)),
                    "price": None,
                    "price_unit": "USD",
                    "sid": sid,
                    "status": "accepted" if service else "queued",
                    "subresource_uris": {
                        "media": f"/2010-04-01/Accounts/{match['account']}/Messages/{sid}"
                        "/Media.json"
                    },
                    "to": to,
                    "uri": f"/2010-04-01/Accounts/{match['account']}/Messages/{sid}.json",
                    "status_callback": form.get("StatusCallback"),
                }
                with double.lock:
                    double.messages.append(message)
                self._reply(201, {k: v for k, v in message.items() if k != "status_callback"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _authorised(self, header: str, account: str) -> bool:
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.account_sid == account and password == self.auth_token

    def start(self) -> TwilioDouble:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign(self, url: str, params: dict[str, str]) -> str:
        payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
        digest = hmac.new(self.auth_token.encode(), payload.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def status_callback(
        self, sid: str, status: str, error_code: str | None = None
    ) -> tuple[str, dict, dict]:
        """The request Twilio would POST to the message's StatusCallback: (url, form, headers)."""
        message = next(m for m in self.messages if m["sid"] == sid)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message["from"] or "",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["to"],
        }
        if error_code:
            params["ErrorCode"] = error_code
        url = message["status_callback"]
        return url, params, {"X-Twilio-Signature": self.sign(url, params)}
