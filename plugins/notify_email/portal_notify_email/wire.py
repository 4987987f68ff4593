"""The wire bytes of a batch's emails, built without `email.message` per message.

A reminder burst sends thousands of messages that differ only in a few headers (To, Date,
Message-ID, List-Unsubscribe) and in their rendered text and HTML (the student's name and
unsubscribe link). Building an EmailMessage per message with `email.policy.default` parses
every header through the header registry and flattens the whole tree again in
`smtplib.send_message`: most of a reminder's CPU. Here what the messages share is
serialised once per batch (the From header, each distinct Subject, RFC 2047-encoded by that
same policy, each attachment part) and each message is put together from bytes, in the
shape `build_email` gives it: multipart/mixed of multipart/alternative (text, HTML) and the
attachments, with the same headers and Content-Transfer-Encoding rules. Anything unusual
(a non-ASCII or display-name address, a boundary found in a body, an over-long header)
goes through `build_email` instead, so the shortcut never changes what is sent.
"""

from __future__ import annotations

import binascii
import email.policy
import hashlib
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from io import BytesIO

from portal.plugins import Attachment, NotificationMessage

# 998 is RFC 5322's hard line limit; the default 78 makes Python fold a long Subject
# right after "Subject:", which some parsers read back with a leading space.
MAX_LINE = 998
POLICY = email.policy.default.clone(max_line_length=MAX_LINE)
WIRE_POLICY = POLICY.clone(linesep="\r\n")  # what smtplib.send_message flattens with
CRLF = b"\r\n"
# An address the header registry would give back unchanged: ASCII, no display name, no
# quoting, comments or spaces (anything else takes the general path).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")
_SAFE_HEADER_VALUE = re.compile(r"[\x21-\x7e]{1,900}\Z")  # one printable ASCII word


@dataclass(frozen=True)
class Wire:
    """One message as the SMTP server receives it."""

    data: bytes
    message_id: str
    sender: str  # envelope MAIL FROM
    recipients: list[str]  # envelope RCPT TO
    eight_bit: bool  # a part is 8bit: needs BODY=8BITMIME (else rebuild with base64)
    # The general path's message: smtplib.send_message flattens it (SMTPUTF8 and all).
    mail: EmailMessage | None = None


def message_id(message: NotificationMessage, domain: str) -> str:
    """Deterministic per notification: a provider that retries internally dedupes on it."""
    token = hashlib.sha256(f"{message.notification_id}:{message.recipient}".encode()).hexdigest()
    return f"<notification-{message.notification_id}.{token[:16]}@{domain}>"


def sender_domain(from_header: str) -> str:
    return parseaddr(from_header)[1].rpartition("@")[2] or "localhost"


def header_bytes(name: str, value: str) -> bytes:
    """The header as an EmailMessage with POLICY would flatten it (RFC 2047 for non-ASCII
    text, folding past 998 characters): the header registry, once per distinct value."""
    return POLICY.header_factory(name, value).fold(policy=WIRE_POLICY).encode("ascii")


def encode_text(text: str, eight_bit: bool = True) -> tuple[str, bytes] | None:
    """(Content-Transfer-Encoding, body) for a UTF-8 text part, as `email.contentmanager`
    chooses with POLICY: 7bit for ASCII, 8bit for other text with lines up to 998 bytes;
    base64 for a server without 8BITMIME. None for a line past 998 bytes (the general
    path's quoted-printable or base64)."""
    lines = text.encode("utf-8").splitlines()
    if max((len(line) for line in lines), default=0) > MAX_LINE:
        return None
    body = CRLF.join(lines) + CRLF
    if body.isascii():
        return "7bit", body
    if eight_bit:
        return "8bit", body
    # What the general path gives on a 7-bit-only policy: the lines, CRLF-separated.
    encoded = binascii.b2a_base64(body, newline=False)
    return "base64", CRLF.join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + CRLF


def _boundary() -> str:
    # The shape email.generator gives a boundary; checked against the parts before use.
    return "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="


def _flatten(part: EmailMessage) -> bytes:
    out = BytesIO()
    BytesGenerator(out, policy=WIRE_POLICY).flatten(part)
    return out.getvalue()


class WireComposer:
    """Builds a batch's messages: From, Subjects and attachment parts serialised once.

    `render(message)` gives the plain text and the HTML (None: text only) of a message, the
    notifier's layouts; `fallback(message)` the EmailMessage for the general path."""

    def __init__(
        self,
        from_header: str,
        render: Callable[[NotificationMessage], tuple[str, str | None]],
        fallback: Callable[[NotificationMessage], EmailMessage],
        now: Callable[[], datetime],
    ) -> None:
        self.from_header = from_header
        self.render = render
        self.fallback = fallback
        self.now = now
        self.domain = sender_domain(from_header)
        # MAIL FROM as smtplib.send_message takes it: the first address of From.
        self.envelope_sender = getaddresses([from_header])[0][1]
        self._from = header_bytes("From", from_header)
        self._subjects: dict[str, bytes] = {}
        self._attachments: dict[Attachment, bytes] = {}
        self._mixed, self._alternative = _boundary(), _boundary()

    def wire(self, message: NotificationMessage, eight_bit: bool = True) -> Wire:
        fast = self._compose(message, eight_bit)
        if fast is not None:
            return fast
        mail = self.fallback(message)
        return Wire(
            data=b"",
            message_id=str(mail["Message-ID"]),
            sender=self.envelope_sender,
            recipients=[message.recipient],
            eight_bit=False,
            mail=mail,
        )

    def _compose(self, message: NotificationMessage, eight_bit: bool) -> Wire | None:
        meta = message.metadata or {}
        unsubscribe = meta.get("unsubscribe_url")
        if not self.envelope_sender.isascii() or not _PLAIN_ADDRESS.match(message.recipient):
            return None
        if unsubscribe and not _SAFE_HEADER_VALUE.match(f"<{unsubscribe}>"):
            return None
        text, html = self.render(message)
        parts: list[tuple[bool, bytes]] = []  # (8bit, the part with its headers)
        for subtype, content in (("plain", text), ("html", html)):
            if content is None:
                continue
            encoded = encode_text(content, eight_bit)
            if encoded is None:
                return None
            cte, body = encoded
            part_head = f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            part_head += f"Content-Transfer-Encoding: {cte}\r\n\r\n"
            parts.append((cte == "8bit", part_head.encode("ascii") + body))
        attachments = [self._attachment(attachment) for attachment in message.attachments]
        boundaries = (self._mixed.encode("ascii"), self._alternative.encode("ascii"))
        everything = [part for _, part in parts] + attachments
        if any(boundary in part for part in everything for boundary in boundaries):
            return None  # practically never (random boundaries); the general path copes
        mid = message_id(message, self.domain)
        head = [
            self._from,
            b"To: " + message.recipient.encode("ascii") + CRLF,
            self._subject(message.subject),
            b"Date: " + format_datetime(self.now()).encode("ascii") + CRLF,
            b"Message-ID: " + mid.encode("ascii") + CRLF,
            b"Auto-Submitted: auto-generated\r\n",
        ]
        if unsubscribe:
            head.append(b"List-Unsubscribe: <" + str(unsubscribe).encode("ascii") + b">\r\n")
            head.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        if len(parts) == 1:
            body_part = parts[0][1]  # text only: the text part itself
        else:
            body_part = _multipart("alternative", self._alternative, [b for _, b in parts])
        if attachments:
            top = _multipart("mixed", self._mixed, [body_part, *attachments])
        else:
            top = body_part
        data = b"".join(head) + b"MIME-Version: 1.0\r\n" + top
        return Wire(
            data=data,
            message_id=mid,
            sender=self.envelope_sender,
            recipients=[message.recipient],
            eight_bit=any(eight for eight, _ in parts),
        )

    def _subject(self, subject: str) -> bytes:
        folded = self._subjects.get(subject)
        if folded is None:
            folded = self._subjects[subject] = header_bytes("Subject", subject)
        return folded

    def _attachment(self, attachment: Attachment) -> bytes:
        part = self._attachments.get(attachment)
        if part is None:
            from portal_notify_email import attachment_part

            part = self._attachments[attachment] = _flatten(attachment_part(attachment, POLICY))
        return part


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    """A multipart entity (its Content-Type header, then the parts) as BytesGenerator
    writes one: the CRLF before each delimiter belongs to the delimiter (RFC 2046)."""
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    opening = f"--{boundary}\r\n".encode("ascii")
    closing = f"\r\n--{boundary}--\r\n".encode("ascii")
    return head.encode("ascii") + opening + delimiter.join(parts) + closing
