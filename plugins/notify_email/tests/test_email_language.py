"""Emails go out in the recipient's language: a French-speaking student's reminder is French,
dates included, through a real SMTP server (aiosmtpd), composed where there is no request."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time
from portal_testing import make_app, wipe_database
from smtp_double import SmtpDouble, self_signed_cert

from portal.core import classes, notifications, users
from portal.core.types import utcnow
from portal.extensions import db


@pytest.fixture
def app(database_url, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server = SmtpDouble(tls_files=(cert, key), implicit_tls=True).start()
    app = make_app(
        database_url,
        tmp_path,
        BASE_URL="https://portal.example",
        SCHOOL_NAME="Lycée Test",
        MAIL_FROM="Lycée Test <classes@school.example>",
        SMTP_HOST="localhost",
        SMTP_PORT=server.port,
        SMTP_SECURITY="ssl",
        SMTP_CA_FILE=str(cert),
    )
    ctx = app.app_context()
    ctx.push()
    app.smtp = server
    yield app
    server.stop()
    db.session.remove()
    ctx.pop()
    wipe_database(app)


def _class_with(*students, title="Biologie"):
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title=title,
            starts_at=utcnow() + timedelta(minutes=10),
            duration_minutes=45,
            timezone="Europe/Paris",
            reminder_offsets=[15],
        ),
    )
    classes.enrol(teacher, klass.id, [s.id for s in students])
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()
    return classes.list_schedules(teacher, klass.id)[0]


def test_a_french_speaking_students_reminder_is_in_french_with_french_dates(app):
    french = users.create_user(None, email="eloise@tests.school", name="Éloïse", role="student")
    english = users.create_user(None, email="ann@tests.school", name="Ann", role="student")
    french.locale = "fr"
    schedule = _class_with(french, english)

    notifications.dispatch_due()

    mails = {r.rcpt_tos[0]: r.message for r in app.smtp.received}
    assert set(mails) == {french.email, english.email}
    mail = mails[french.email]
    local = schedule.starts_at.astimezone(ZoneInfo("Europe/Paris"))
    french_date = f"{format_date(local, 'full', locale='fr')}, {local:%H:%M}"  # lundi 7 déc...
    assert mail["Subject"] == f"Rappel : Biologie commence {french_date} (Europe/Paris)"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Bonjour Éloïse," in text
    assert f"Biologie commence dans 15 minutes : {french_date} (Europe/Paris)." in text
    assert re.search(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\b", french_date)
    assert "Ne plus recevoir ces e-mails : https://portal.example/unsubscribe/" in text
    # The notifier's own layout speaks French too (its own catalogue domain).
    assert '<html lang="fr" dir="ltr">' in html
    assert "Vous recevez ce message car les notifications par e-mail sont activées" in html
    assert "Se désabonner de ces e-mails" in html and "<strong>Biologie</strong>" in html
    # The English-speaking classmate, in the same dispatch, gets English.
    other = mails[english.email]
    assert other["Subject"].startswith("Reminder: Biologie starts ")
    english_time = format_time(local, "short", locale="en")
    assert english_time in other.get_body(("plain",)).get_content()


def test_without_a_choice_the_recipient_gets_the_schools_default_language(app):
    from portal.core.settings import set_setting

    student = users.create_user(None, email="sam@tests.school", name="Sam", role="student")
    set_setting("default_locale", "es")
    _class_with(student, title="Química")

    notifications.dispatch_due()

    [received] = app.smtp.received
    assert received.message["Subject"].startswith("Recordatorio: Química empieza ")
    assert "Hola, Sam:" in received.message.get_body(("plain",)).get_content()
