"""Email through a real SMTP server (aiosmtpd) and through SES on moto's server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from portal_testing import PASSWORD, make_app, sign_in, wipe_database
from smtp_double import SmtpDouble, self_signed_cert

from portal.core import classes, notifications, users
from portal.core.models import Notification
from portal.core.types import utcnow
from portal.extensions import db

BASE = "https://portal.example"


@pytest.fixture
def app_factory(database_url, tmp_path):
    made = []

    def factory(**config):
        app = make_app(
            database_url,
            tmp_path,
            BASE_URL=BASE,
            SCHOOL_NAME="Lycée Test",
            MAIL_FROM="Lycée Test <classes@school.example>",
            **config,
        )
        ctx = app.app_context()
        ctx.push()
        made.append((app, ctx))
        return app

    yield factory
    for app, ctx in made:
        db.session.remove()
        ctx.pop()
        wipe_database(app)


def _reminder_for(email="student@tests.school", title="Biology", offsets=(15,)):
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    student = users.create_user(None, email=email, name="Ana Student", role="student")
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title=title,
            starts_at=utcnow() + timedelta(minutes=10),
            duration_minutes=45,
            timezone="Europe/Paris",
            reminder_offsets=list(offsets),
            description="Cells and membranes",
        ),
    )
    classes.enrol(teacher, klass.id, [student.id])
    # Transport tests: the enrolment invitation is tested in the core suite.
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()
    return student, classes.list_schedules(teacher, klass.id)[0]


def _row() -> Notification:
    db.session.expire_all()
    return db.session.execute(db.select(Notification).filter_by(kind="reminder")).scalar_one()


def _check_mail(message, student, schedule):
    assert message["From"] == "Lycée Test <classes@school.example>"
    assert message["To"] == student.email
    assert message["Subject"].startswith("Reminder: Biology starts ")
    assert message["List-Unsubscribe"].startswith(f"<{BASE}/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].startswith(f"<notification-{_row().id}.")
    assert message.get_content_type() == "multipart/mixed"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert (
        "Biology starts in 15 minutes" in text
        and "Stop these emails: https://portal.example/unsubscribe/" in text
    )
    assert (
        "<strong>Biology</strong> starts in 15 minutes" in html
        and "Unsubscribe from these emails" in html
    )
    [ics] = [
        part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    assert ics.get_filename() == "class.ics" and ics.get_param("method") == "REQUEST"
    from icalendar import Calendar

    event = Calendar.from_ical(ics.get_content()).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Biology"
    assert event.decoded("DTSTART") == schedule.starts_at.replace(microsecond=0)
    assert str(event["UID"]) == f"schedule-{schedule.id}@portal.example"


def test_smtp_starttls_with_login_delivers_a_multipart_mail_with_ics(app_factory, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server = SmtpDouble(tls_files=(cert, key), credentials=("mailer", "s3cret")).start()
    try:
        app_factory(
            SMTP_HOST="localhost",
            SMTP_PORT=server.port,
            SMTP_SECURITY="starttls",
            SMTP_USERNAME="mailer",
            SMTP_PASSWORD="s3cret",
            SMTP_CA_FILE=str(cert),
        )
        student, schedule = _reminder_for()
        assert notifications.notifier_for("email").name == "smtp"
        notifications.dispatch_due()
        notifications.dispatch_due()
        [received] = server.received
        assert received.tls and received.login == b"mailer"
        assert received.mail_from == "classes@school.example" and received.rcpt_tos == [
            student.email
        ]
        _check_mail(received.message, student, schedule)
        assert _row().status == "sent" and _row().provider_id == received.message["Message-ID"]
    finally:
        server.stop()


def test_smtp_implicit_tls(app_factory, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server = SmtpDouble(tls_files=(cert, key), implicit_tls=True).start()
    try:
        app_factory(
            SMTP_HOST="localhost",
            SMTP_PORT=server.port,
            SMTP_SECURITY="ssl",
            SMTP_CA_FILE=str(cert),
        )
        student, schedule = _reminder_for()
        notifications.dispatch_due()
        [received] = server.received
        assert received.tls
        _check_mail(received.message, student, schedule)
    finally:
        server.stop()


def test_smtp_refuses_an_untrusted_certificate_and_a_wrong_password(app_factory, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server = SmtpDouble(tls_files=(cert, key), credentials=("mailer", "s3cret")).start()
    try:
        app = app_factory(
            SMTP_HOST="localhost",
            SMTP_PORT=server.port,
            SMTP_USERNAME="mailer",
            SMTP_PASSWORD="wrong",
            SMTP_CA_FILE=str(cert),
        )
        _reminder_for()
        notifications.dispatch_due()
        row = _row()
        assert (row.status, row.attempts) == ("pending", 1) and row.error.startswith("SMTP 535")
        app.config["SMTP_CA_FILE"] = None  # the system CAs do not know this certificate
        app.config["SMTP_PASSWORD"] = "s3cret"
        notifications.dispatch_due(now=row.due_at + timedelta(seconds=1))
        row = _row()
        assert row.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in row.error
        assert server.received == []
    finally:
        server.stop()


def test_smtp_temporary_and_permanent_rejections(app_factory):
    server = SmtpDouble().start()
    try:
        app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_SECURITY="none")
        _reminder_for()
        server.replies = ["451 4.3.0 Try again later", "550 5.1.1 No such mailbox"]
        notifications.dispatch_due()
        row = _row()
        assert (row.status, row.error) == ("pending", "SMTP 451: 4.3.0 Try again later")
        notifications.dispatch_due(now=row.due_at + timedelta(seconds=1))
        row = _row()
        assert (row.status, row.attempts, row.error) == (
            "failed",
            2,
            "SMTP 550: 5.1.1 No such mailbox",
        )
        assert server.received == []
    finally:
        server.stop()


@pytest.fixture
def moto_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_ses_send_raw_email_through_moto_server(app_factory, moto_server):
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    app_factory(SES_REGION="eu-west-1", SES_ENDPOINT_URL=moto_server)
    ses = boto3.client("ses", region_name="eu-west-1", endpoint_url=moto_server)
    student, schedule = _reminder_for()
    assert notifications.notifier_for("email").name == "ses"

    # Not yet a verified sender: SES rejects for good.
    notifications.dispatch_due()
    row = _row()
    assert row.status == "failed" and row.error.startswith("SES MessageRejected")

    db.session.execute(db.delete(Notification))
    db.session.commit()
    ses.verify_email_identity(EmailAddress="classes@school.example")
    notifications.sync_schedule(schedule)
    db.session.commit()
    notifications.dispatch_due()
    row = _row()
    assert row.status == "sent"
    [sent] = [
        m
        for m in ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
        if m.id == row.provider_id
    ]
    assert set(sent.destinations) == {student.email}  # moto also lists the To header
    import email
    from email import policy

    _check_mail(email.message_from_string(sent.raw_data, policy=policy.default), student, schedule)


def _admin(app):
    admin = users.create_user(
        None, email="admin@tests.school", name="Admin", role="admin", password=PASSWORD
    )
    db.session.commit()
    return sign_in(app.test_client(), admin)


@pytest.mark.parametrize("outage", ["refuses every message", "is not listening"])
def test_smtp_outage_is_retried_then_failed_shown_to_admins_and_sent_again_once(
    app_factory, outage
):
    server = SmtpDouble().start()
    try:
        app = app_factory(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=server.port,
            SMTP_SECURITY="none",
            SMTP_TIMEOUT=3,
            NOTIFY_MAX_ATTEMPTS=3,
            NOTIFY_RETRY_BACKOFF_SECONDS=10,
        )
        student, _ = _reminder_for()
        if outage == "is not listening":
            server.stop()
        else:
            server.replies = ["421 4.3.2 Service not available, closing channel"] * 3
        for _ in range(3):  # the first try, then each retry once its backoff is over
            row = _row()
            notifications.dispatch_due(now=max(row.due_at, utcnow()) + timedelta(seconds=1))
        row = _row()
        assert (row.status, row.attempts) == ("failed", 3)
        assert server.received == []

        admin = _admin(app)
        [report] = admin.get("/api/admin/notifications").get_json()["items"]
        assert (
            report["id"] == row.id
            and report["address"] == student.email
            and report["attempts"] == 3
        )
        expected = (
            "SMTP 421" if outage == "refuses every message" else "SMTP: ConnectionRefusedError"
        )
        assert report["error"].startswith(expected), report["error"]

        if outage == "is not listening":  # the mail server comes back (on a new port)
            server = SmtpDouble().start()
            app.config["SMTP_PORT"] = server.port
        assert admin.post(f"/api/admin/notifications/{row.id}/retry").status_code == 200
        notifications.dispatch_due()
        notifications.dispatch_due()
        assert [m.rcpt_tos for m in server.received] == [[student.email]]
        assert _row().status == "sent"
        assert admin.get("/api/admin/notifications").get_json()["items"] == []
    finally:
        server.stop()


def _students_due(count: int):
    teacher = users.create_user(None, email="teacher@tests.school", name="Teacher", role="teacher")
    students = [
        users.create_user(None, email=f"s{i}@tests.school", name=f"S{i}", role="student")
        for i in range(count)
    ]
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title="Burst",
            starts_at=utcnow() + timedelta(minutes=10),
            duration_minutes=45,
            timezone="UTC",
            reminder_offsets=[15],
        ),
    )
    classes.enrol(teacher, klass.id, [s.id for s in students])
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()
    return students


def test_a_burst_of_reminders_shares_one_connection_without_extra_round_trips(app_factory):
    server = SmtpDouble().start()
    try:
        app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_SECURITY="none")
        students = _students_due(5)
        notifications.dispatch_due()
        assert sorted(a for r in server.received for a in r.rcpt_tos) == sorted(
            s.email for s in students
        )
        assert (server.connections, server.noops) == (1, 0)
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["421", "drop"])
def test_a_server_that_closes_kept_open_connections_still_gets_every_message_at_the_first_attempt(
    app_factory, how
):
    server = SmtpDouble().start()
    server.one_message_per_connection = how
    try:
        app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_SECURITY="none")
        students = _students_due(4)
        notifications.dispatch_due()
        assert sorted(a for r in server.received for a in r.rcpt_tos) == sorted(
            s.email for s in students
        )
        db.session.expire_all()
        rows = (
            db.session.execute(db.select(Notification).filter_by(kind="reminder")).scalars().all()
        )
        assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
        assert server.connections == 4
    finally:
        server.stop()
