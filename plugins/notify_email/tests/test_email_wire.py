"""Reminder emails are put together from bytes prepared once per batch (wire.py), and what
the SMTP server receives is the message the general builder (EmailMessage) makes: same
headers, RFC 2047 subjects, parts, encodings and .ics, for English, French and Arabic
recipients, through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.headerregistry
from datetime import timedelta
from email import policy

import pytest
from portal_notify_email import build_email, render_layouts, wire
from portal_testing import make_app, wipe_database
from smtp_double import SmtpDouble

from portal.core import classes, notifications, users
from portal.core.models import Notification
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import Attachment, NotificationMessage

BASE = "https://portal.example"
TITLE = "Biologie — cellules"  # a non-ASCII title: every subject needs RFC 2047


@pytest.fixture
def app(database_url, tmp_path):
    server = SmtpDouble().start()
    app = make_app(
        database_url,
        tmp_path,
        BASE_URL=BASE,
        SCHOOL_NAME="Lycée Test",
        MAIL_FROM="Lycée Test <classes@school.example>",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=server.port,
        SMTP_SECURITY="none",
    )
    ctx = app.app_context()
    ctx.push()
    app.smtp = server
    yield app
    server.stop()
    db.session.remove()
    ctx.pop()
    wipe_database(app)


def _students_due(*people: tuple[str, str, str]):
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    students = []
    for address, name, locale in people:
        student = users.create_user(None, email=address, name=name, role="student")
        student.locale = locale
        students.append(student)
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title=TITLE,
            starts_at=utcnow() + timedelta(minutes=10),
            duration_minutes=45,
            timezone="Europe/Paris",
            reminder_offsets=[15],
            description="Membranes et noyaux",
        ),
    )
    classes.enrol(teacher, klass.id, [s.id for s in students])
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()
    return students


HEADERS = (
    "From",
    "To",
    "Subject",
    "Message-ID",
    "Auto-Submitted",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
)


def _shape(message: email.message.EmailMessage) -> dict:
    """What a mail client reads from a message: headers, the part tree with each part's
    type, encoding, parameters and decoded content (the .ics as its calendar lines but the
    time it was stamped)."""
    parts = []
    for part in message.walk():
        content = None
        if not part.is_multipart():
            content = part.get_content()
            if part.get_content_type() == "text/calendar":
                content = [
                    line
                    for line in content.splitlines()
                    if not line.startswith(("DTSTAMP", "SEQUENCE"))
                ]
        parts.append(
            (
                part.get_content_type(),
                part.get("Content-Transfer-Encoding"),
                dict(part.get_params() or [])
                if not part.is_multipart()
                else part.get_content_subtype(),
                part.get_filename(),
                part.get_content_disposition(),
                content,
            )
        )
    return {"headers": {name: message[name] for name in HEADERS}, "parts": parts}


def _received_and_expected(app) -> list[tuple[email.message.EmailMessage, dict]]:
    """Each received message beside the general builder's message for the same row."""
    from portal.core.models import User

    rows = {
        user.email: row
        for row, user in db.session.execute(
            db.select(Notification, User)
            .join(User, User.id == Notification.user_id)
            .filter(Notification.kind == "reminder")
        )
    }
    pairs = []
    for received in app.smtp.received:
        [address] = received.rcpt_tos
        row = rows[address]
        general = build_email(notifications.compose(row))
        parsed = email.message_from_bytes(
            general.as_bytes(policy=wire.WIRE_POLICY), policy=policy.default
        )
        pairs.append((received.message, _shape(parsed)))
    return pairs


def test_english_french_and_arabic_reminders_arrive_as_the_general_builder_makes_them(app):
    students = _students_due(
        ("ann@tests.school", "Ann", "en"),
        ("eloise@tests.school", "Éloïse Lefèvre", "fr"),
        ("mariam@tests.school", "مريم الحسيني", "ar"),
    )

    notifications.dispatch_due()

    assert sorted(a for r in app.smtp.received for a in r.rcpt_tos) == sorted(
        s.email for s in students
    )
    by_address = {r.rcpt_tos[0]: r for r in app.smtp.received}
    for received, expected in _received_and_expected(app):
        got = _shape(received)
        assert got["headers"] == expected["headers"]
        for got_part, expected_part in zip(got["parts"], expected["parts"], strict=True):
            assert got_part == expected_part
        assert received["Date"] is not None and received["Date"].datetime is not None
    # Subjects went out RFC 2047-encoded (the raw header is ASCII) and decode to the title.
    for address, start in [
        ("ann@tests.school", "Reminder: Biologie — cellules starts "),
        ("eloise@tests.school", "Rappel : Biologie — cellules commence "),
    ]:
        raw_head = by_address[address].raw.split(b"\r\n\r\n", 1)[0]
        assert raw_head.isascii() and b"=?utf-8?" in raw_head
        assert by_address[address].message["Subject"].startswith(start)
    arabic = by_address["mariam@tests.school"].message
    assert "مريم الحسيني" in arabic.get_body(("plain",)).get_content()
    assert '<html lang="ar" dir="rtl">' in arabic.get_body(("html",)).get_content()
    # One Message-ID per message.
    assert len({r.message["Message-ID"] for r in app.smtp.received}) == 3


def test_a_batch_of_reminders_parses_headers_once_per_batch_not_once_per_message(app, monkeypatch):
    """The header registry (Python's costliest email step) runs for what the messages share
    (From, each distinct Subject, the .ics part), not for each of thirty messages."""
    people = [(f"s{i}@tests.school", f"Élève {i}", "fr") for i in range(30)]
    _students_due(*people)
    parses = 0
    registry_call = email.headerregistry.HeaderRegistry.__call__

    def counted(self, name, value):
        nonlocal parses
        parses += 1
        return registry_call(self, name, value)

    monkeypatch.setattr(email.headerregistry.HeaderRegistry, "__call__", counted)

    notifications.dispatch_due()

    assert len(app.smtp.received) == 30
    # The general builder parses at least 11 headers for each message (330 here); a batch
    # now parses its From and Subject and its .ics part's headers: fewer than one a message.
    assert parses < 30, parses


def _message(**overrides) -> NotificationMessage:
    fields = {
        "channel": "email",
        "recipient": "ann@tests.school",
        "subject": "Rappel : Biologie commence à 9 h",
        "text": "Bonjour Éloïse,\n\n.Une ligne qui commence par un point.\n",
        "html": "<p>Bonjour <strong>Ann</strong></p>",
        "attachments": [Attachment("class.ics", "text/calendar; method=REQUEST", b"BEGIN:X\r\n")],
        "notification_id": 7,
        "metadata": {"unsubscribe_url": f"{BASE}/unsubscribe/abc", "locale": "fr"},
    }
    fields.update(overrides)
    return NotificationMessage(**fields)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"html": None},  # text only
        {"attachments": []},  # multipart/alternative at the top
        {"html": None, "attachments": []},  # a single text/plain message
        {"text": "x" * 1200 + " é\n"},  # a line past 998 bytes: base64
        {"recipient": "Ann Student <ann@tests.school>"},  # a display name: general path
        {"metadata": {"locale": "ar"}},  # no unsubscribe link
    ],
)
def test_every_message_shape_matches_the_general_builder(app, overrides):
    message = _message(**overrides)
    built = wire.WireComposer(
        "Lycée Test <classes@school.example>",
        render=render_layouts,
        fallback=build_email,
        now=utcnow,
    ).wire(message)
    data = built.data or built.mail.as_bytes(policy=wire.WIRE_POLICY)  # type: ignore[union-attr]
    received = email.message_from_bytes(data, policy=policy.default)
    general = email.message_from_bytes(
        build_email(message).as_bytes(policy=wire.WIRE_POLICY), policy=policy.default
    )
    got, expected = _shape(received), _shape(general)
    assert got["headers"] == expected["headers"]
    for got_part, expected_part in zip(got["parts"], expected["parts"], strict=True):
        assert got_part == expected_part
    assert built.message_id == general["Message-ID"]


def test_a_server_without_8bitmime_gets_7bit_parts(app):
    """The French text is 8bit for a server that announces 8BITMIME; base64 otherwise."""
    import portal_notify_email

    composer = portal_notify_email.composer()
    eight = composer.wire(_message())
    seven = composer.wire(_message(), eight_bit=False)
    assert eight.eight_bit and not seven.eight_bit and seven.data.isascii()
    a = email.message_from_bytes(eight.data, policy=policy.default)
    b = email.message_from_bytes(seven.data, policy=policy.default)
    assert a.get_body(("plain",))["Content-Transfer-Encoding"] == "8bit"
    assert b.get_body(("plain",))["Content-Transfer-Encoding"] == "base64"
    assert a.get_body(("plain",)).get_content() == b.get_body(("plain",)).get_content()
