"""Email notifications for the classroom portal: SMTP (smtplib) or Amazon SES (boto3).

Messages are multipart (plain text + HTML rendered from Jinja templates) and carry an
iCalendar attachment when the core adds one (class invitations, moves, cancellations).
Settings are PORTAL_* app config keys, read at send time; see docs/notifications.md.
"""

from __future__ import annotations

import email.policy
import select
import smtplib
import ssl
import threading
import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from flask import current_app
from jinja2 import Environment, PackageLoader, Template, select_autoescape
from markupsafe import Markup

from portal.plugins import Attachment, DeliveryResult, NotificationMessage, hookimpl, services
from portal.plugins.i18n import domain, force_locale, text_direction

from . import wire

# The layout's own words come from this plugin's catalogue, in the message's language.
translations = domain("portal_notify_email")
_env = Environment(
    loader=PackageLoader("portal_notify_email", "templates"),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
)
_env.install_gettext_callables(  # type: ignore[attr-defined]
    translations.gettext, translations.ngettext, newstyle=True
)


def _cfg(name: str, default: Any = None) -> Any:
    value = current_app.config.get(name)
    return default if value in (None, "") else value


def sender() -> str:
    configured = _cfg("MAIL_FROM")
    if configured:
        return str(configured)
    return formataddr((str(_cfg("SCHOOL_NAME", "Classroom portal")), "noreply@localhost"))


def templates() -> tuple[Template, Template]:
    """The plain-text and HTML layouts, compiled (once per batch: see send_many)."""
    return _env.get_template("plain.txt"), _env.get_template("layout.html")


def render_layouts(
    message: NotificationMessage, layouts: tuple[Template, Template] | None = None
) -> tuple[str, str | None]:
    """The plain text and the HTML (None without the core's HTML) of a message, in the
    notifier's layouts and the message's language."""
    plain, layout = layouts or templates()
    meta = message.metadata or {}
    locale = str(meta.get("locale") or "en")
    context = {
        "lang": locale,
        "dir": text_direction(locale),
        "subject": message.subject,
        "school_name": meta.get("school_name", ""),
        "unsubscribe_url": meta.get("unsubscribe_url"),
        "text": message.text,
    }
    with force_locale(locale):
        text = plain.render(**context)
        html = layout.render(body=Markup(message.html), **context) if message.html else None
    return text, html


def build_email(
    message: NotificationMessage,
    layouts: tuple[Template, Template] | None = None,
    parts: dict[Attachment, EmailMessage] | None = None,
) -> EmailMessage:
    """A MIME message: multipart/alternative (text, HTML) plus attachments (.ics).
    `layouts` and `parts` (attachment parts by attachment): shared by a batch's messages.
    The general path (SES, and what `wire.WireComposer` does not build itself)."""
    meta = message.metadata or {}
    mail = EmailMessage(policy=wire.POLICY)
    from_header = sender()
    mail["From"] = from_header
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(services.now())
    mail["Message-ID"] = wire.message_id(message, wire.sender_domain(from_header))
    mail["Auto-Submitted"] = "auto-generated"
    unsubscribe = meta.get("unsubscribe_url")
    if unsubscribe:
        mail["List-Unsubscribe"] = f"<{unsubscribe}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text, html = render_layouts(message, layouts)
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    if message.attachments and mail.get_content_subtype() != "mixed":
        mail.make_mixed()  # what add_attachment does
    for attachment in message.attachments:
        part = parts.get(attachment) if parts is not None else None
        if part is None:
            part = attachment_part(attachment, mail.policy)
            if parts is not None:
                parts[attachment] = part
        mail.attach(part)
    return mail


def composer() -> wire.WireComposer:
    """A batch's message builder: layouts compiled, From and Subjects encoded, attachment
    parts serialised once (see wire.py)."""
    layouts = templates()
    parts: dict[Attachment, EmailMessage] = {}
    return wire.WireComposer(
        sender(),
        render=lambda message: render_layouts(message, layouts),
        fallback=lambda message: build_email(message, layouts, parts),
        now=services.now,
    )


def attachment_part(attachment: Attachment, policy: email.policy.Policy) -> EmailMessage:
    """The MIME part of an attachment, as EmailMessage.add_attachment builds it; built once
    per batch for the messages that share it (every reminder of a class: one .ics)."""
    maintype, _, rest = attachment.content_type.partition("/")
    subtype, *param_parts = [p.strip() for p in rest.split(";")]
    params = dict(p.split("=", 1) for p in param_parts if "=" in p and not p.startswith("charset"))
    part = EmailMessage(policy=policy)
    if maintype == "text":
        part.set_content(
            attachment.data.decode("utf-8"),
            subtype=subtype,
            filename=attachment.filename,
            params=params,
        )
    else:
        part.set_content(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    if "content-disposition" not in part:
        part["Content-Disposition"] = "attachment"
    return part


class SmtpNotifier:
    """SMTP with STARTTLS (default on 587), implicit TLS (465) or plain, optional AUTH."""

    channel = "email"
    name = "smtp"
    IDLE_CHECK_SECONDS = 10.0

    def __init__(self) -> None:
        self._local = threading.local()

    def is_configured(self) -> bool:
        return bool(_cfg("SMTP_HOST"))

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=_cfg("SMTP_CA_FILE"))

    def _connect(self) -> smtplib.SMTP:
        host = str(_cfg("SMTP_HOST"))
        security = str(_cfg("SMTP_SECURITY", "starttls")).lower()
        port = int(_cfg("SMTP_PORT", 465 if security == "ssl" else 587))
        timeout = float(_cfg("SMTP_TIMEOUT", 15))
        if security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=self._tls_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
            if security == "starttls":
                smtp.starttls(context=self._tls_context())
            elif security != "none":
                raise ValueError(f"SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
        username = _cfg("SMTP_USERNAME")
        if username:
            smtp.login(str(username), str(_cfg("SMTP_PASSWORD", "")))
        return smtp

    def _connection(self) -> smtplib.SMTP:
        """One connection per worker thread, reused while the server keeps it open.

        In a burst (used within IDLE_CHECK_SECONDS) the connection is checked without a
        round trip: an idle SMTP server sends nothing unless it is closing (a 421 or the end
        of the stream), so a socket with nothing to read is still open. After a longer
        pause a NOOP asks the server itself."""
        smtp = getattr(self._local, "smtp", None)
        if smtp is not None:
            recent = (
                time.monotonic() - getattr(self._local, "used_at", 0.0) < self.IDLE_CHECK_SECONDS
            )
            if recent and _nothing_to_read(smtp):
                return smtp
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._close()
        smtp = self._local.smtp = self._connect()
        return smtp

    def _close(self) -> None:
        smtp = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def send(self, message: NotificationMessage) -> DeliveryResult:
        return self.send_many([message])[0]

    def send_many(self, messages: Sequence[NotificationMessage]) -> list[DeliveryResult]:
        """Every message over this thread's one connection, reconnecting once when the
        server drops it; after connection trouble the messages not sent come back retryable
        (no connection attempt each), so only those are tried again later."""
        build = composer()
        results: list[DeliveryResult] = []
        trouble: DeliveryResult | None = None
        for message in messages:
            if trouble is not None:
                results.append(trouble)
                continue
            result, connection_lost = self._send_mail(build, message)
            if connection_lost:
                trouble = result
            results.append(result)
        return results

    def _send_mail(
        self, build: wire.WireComposer, message: NotificationMessage
    ) -> tuple[DeliveryResult, bool]:
        """The provider's answer, and whether the connection is gone (not the message)."""
        mail = build.wire(message)
        for first_try in (True, False):
            reused = getattr(self._local, "smtp", None) is not None
            try:
                smtp = self._connection()
                smtp.ehlo_or_helo_if_needed()  # what sendmail does first: the extensions
                if mail.eight_bit and not smtp.has_extn("8bitmime"):
                    mail = build.wire(message, eight_bit=False)  # 7-bit only: base64 parts
                if mail.mail is not None:
                    refused = smtp.send_message(mail.mail)
                else:
                    # The bytes as built: sendmail does not re-parse or re-flatten them.
                    options = ["BODY=8BITMIME"] if mail.eight_bit else []
                    refused = smtp.sendmail(mail.sender, mail.recipients, mail.data, options)
                break
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                return _smtp_failure(code, reply), False
            except smtplib.SMTPResponseException as exc:
                self._close()
                if exc.smtp_code == 421 and reused and first_try:
                    continue  # "closing channel" on a kept-open connection: a fresh one
                return _smtp_failure(exc.smtp_code, exc.smtp_error), exc.smtp_code == 421
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                self._close()
                if reused and first_try and isinstance(exc, _CLOSED_UNDER_US):
                    # The server dropped a kept-open connection (a per-connection message
                    # limit, a restart): no worse than a retry later, and it saves one.
                    continue
                # Connection trouble: the message did not get through; try again later.
                error = f"SMTP: {type(exc).__name__}: {exc}"
                return DeliveryResult(status="failed", retryable=True, error=error), True
        self._local.used_at = time.monotonic()
        if refused:
            code, reply = next(iter(refused.values()))
            return _smtp_failure(code, reply), False
        return DeliveryResult(status="sent", provider_id=mail.message_id), False


_CLOSED_UNDER_US = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


def _nothing_to_read(smtp: smtplib.SMTP) -> bool:
    sock = smtp.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _smtp_failure(code: int, reply: bytes | str) -> DeliveryResult:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    # 4xx is temporary (greylisting, mailbox busy), and so is a refused login (fixable);
    # other 5xx answers will not change on a retry.
    retryable = 400 <= code < 500 or code in (530, 535)
    return DeliveryResult(status="failed", retryable=retryable, error=f"SMTP {code}: {text}"[:1000])


class SesNotifier:
    """Amazon SES (SendRawEmail), credentials from the standard AWS chain or PORTAL_SES_*."""

    channel = "email"
    name = "ses"
    RETRYABLE = {
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "InternalFailure",
        "RequestTimeout",
        "TooManyRequestsException",
        "LimitExceededException",
    }

    def __init__(self) -> None:
        self._clients: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def is_configured(self) -> bool:
        return bool(_cfg("SES_REGION"))

    def _client(self) -> Any:
        import boto3

        key = (_cfg("SES_REGION"), _cfg("SES_ENDPOINT_URL"), _cfg("SES_ACCESS_KEY_ID"))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                kwargs: dict[str, Any] = {"region_name": key[0]}
                if key[1]:
                    kwargs["endpoint_url"] = key[1]
                if key[2]:
                    kwargs["aws_access_key_id"] = key[2]
                    kwargs["aws_secret_access_key"] = _cfg("SES_SECRET_ACCESS_KEY")
                client = self._clients[key] = boto3.client("ses", **kwargs)
        return client

    def send(self, message: NotificationMessage) -> DeliveryResult:
        from botocore.exceptions import BotoCoreError, ClientError

        mail = build_email(message)
        kwargs: dict[str, Any] = {
            "Source": mail["From"],
            "Destinations": [message.recipient],
            "RawMessage": {"Data": mail.as_bytes()},
        }
        if _cfg("SES_CONFIGURATION_SET"):
            kwargs["ConfigurationSetName"] = _cfg("SES_CONFIGURATION_SET")
        try:
            response = self._client().send_raw_email(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            text = exc.response.get("Error", {}).get("Message", str(exc))
            return DeliveryResult(
                status="failed",
                retryable=code in self.RETRYABLE,
                error=f"SES {code}: {text}"[:1000],
            )
        except BotoCoreError as exc:
            return DeliveryResult(status="failed", retryable=True, error=f"SES: {exc}"[:1000])
        return DeliveryResult(status="sent", provider_id=response["MessageId"])


@hookimpl
def register_notifiers(register) -> None:
    register(SmtpNotifier())
    register(SesNotifier())
