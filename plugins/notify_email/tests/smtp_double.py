"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import functools
import ipaddress
import ssl
import threading
import time
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from portal_testing import free_port


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost / 127.0.0.1 (the client trusts it as its CA file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Received:
    def __init__(self, envelope, session, tls: bool) -> None:
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.raw = envelope.original_content or envelope.content
        self.tls = tls
        self.at = time.time()
        self.login = (
            session.auth_data.login if session.authenticated and session.auth_data else None
        )

    @functools.cached_property
    def message(self):
        # Parsed when a test looks, not on receipt: the benchmarks keep this server busy and
        # its parsing would compete for the CPU with the portal being measured.
        return email.message_from_bytes(self.raw, policy=policy.default)


class SmtpDouble:
    """Records every accepted message; `replies` forces answers (e.g. '451 try later')."""

    def __init__(
        self,
        *,
        tls_files: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.received: list[Received] = []
        self.replies: list[str] = []
        self.delay = delay
        self.connections = 0  # EHLO/HELO greetings: one per connection the client opened
        self.noops = 0
        # A server that takes one message per connection: at the next MAIL it answers
        # "421" and closes ("421"), or just drops the connection ("drop").
        self.one_message_per_connection: str | None = None
        # A server going away mid-batch and coming back: once `refuse_after` messages were
        # accepted, the next `refusals` MAIL commands get "421" and their connection closed.
        self.refuse_after: int | None = None
        self.refusals = 0
        self.lock = threading.Lock()
        self.port = free_port()
        kwargs: dict = {}
        context = None
        if tls_files:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, tls_files))
        if context and implicit_tls:
            kwargs["ssl_context"] = context
        elif context:
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
        if credentials:
            expected = LoginPassword(credentials[0].encode(), credentials[1].encode())

            def authenticator(server, session, envelope, mechanism, auth_data):
                return AuthResult(success=auth_data == expected, handled=False, auth_data=auth_data)

            kwargs.update(
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=bool(context),
                auth_exclude_mechanism=["LOGIN"],
            )
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_NOOP(self, server, session, envelope, arg):
        with self.lock:
            self.noops += 1
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            tls = server.transport.get_extra_info("ssl_object") is not None
            self.received.append(Received(envelope, session, tls))
        session.messages_here = getattr(session, "messages_here", 0) + 1
        return "250 Message accepted for delivery"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            refuse = (
                self.refuse_after is not None
                and len(self.received) >= self.refuse_after
                and self.refusals > 0
            )
            if refuse:
                self.refusals -= 1
        if refuse:
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.3.2 Service shutting down, closing transmission channel"
        if self.one_message_per_connection and getattr(session, "messages_here", 0) >= 1:
            if self.one_message_per_connection == "drop":
                server.transport.abort()
                return "451 never seen: the connection is gone"
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 Too many messages on this connection, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def start(self) -> SmtpDouble:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]
