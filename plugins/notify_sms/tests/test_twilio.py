"""SMS through Twilio's REST API, served by a faithful local double."""

from __future__ import annotations

from datetime import timedelta

import pytest
from portal_notify_sms.segments import fit, is_gsm7, segment_count, units
from portal_testing import PASSWORD, make_app, sign_in, wipe_database
from twilio_double import TwilioDouble

from portal.core import classes, notifications, users
from portal.core.models import Notification, Schedule
from portal.core.types import utcnow
from portal.extensions import db

SID = "AC" + "1" * 32
TOKEN = "f" * 32
BASE = "https://portal.example"


@pytest.fixture
def twilio():
    double = TwilioDouble(SID, TOKEN).start()
    yield double
    double.stop()


@pytest.fixture
def sms_app(database_url, tmp_path, twilio):
    app = make_app(
        database_url,
        tmp_path,
        BASE_URL=BASE,
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_FROM_NUMBER="+15005550006",
        TWILIO_API_BASE=twilio.url,
        NOTIFY_RETRY_BACKOFF_SECONDS=30,
    )
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    ctx.pop()
    wipe_database(app)


def _class_with_sms_student(phone="+33612345678", title="Chemistry"):
    teacher = users.create_user(
        None, email="t@tests.school", name="Teacher", role="teacher", password=None
    )
    student = users.create_user(
        None, email="s@tests.school", name="Student", role="student", phone=phone
    )
    student.notify_sms = True
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title=title,
            starts_at=utcnow() + timedelta(minutes=10),
            duration_minutes=45,
            timezone="Europe/Paris",
            reminder_offsets=[15],
            reminder_channels=["sms"],
        ),
    )
    classes.enrol(teacher, klass.id, [student.id])
    db.session.commit()
    return student


def _row() -> Notification:
    db.session.expire_all()
    return db.session.execute(db.select(Notification)).scalar_one()


def test_reminder_goes_to_twilio_with_the_api_form_fields(sms_app, twilio):
    _class_with_sms_student()
    assert notifications.notifier_for("sms").name == "twilio"
    notifications.dispatch_due()
    notifications.dispatch_due()

    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = request["form"]
    assert form["To"] == "+33612345678" and form["From"] == "+15005550006"
    assert form["StatusCallback"] == f"{BASE}/hooks/twilio/sms-status"
    assert form["Body"].startswith("Chemistry starts in 15 minutes")
    assert segment_count(form["Body"]) <= 2
    row = _row()
    assert row.status == "sent" and row.provider_id == twilio.messages[0]["sid"]


def test_messaging_service_sid_replaces_the_from_number(sms_app, twilio):
    sms_app.config["TWILIO_MESSAGING_SERVICE_SID"] = "MG" + "2" * 32
    _class_with_sms_student()
    notifications.dispatch_due()
    form = twilio.requests[0]["form"]
    assert form["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in form
    assert twilio.messages[0]["status"] == "accepted"


def test_long_titles_are_cut_to_two_segments(sms_app, twilio):
    _class_with_sms_student(title="Химия " * 30)  # Cyrillic: UCS-2, 67 characters per segment
    notifications.dispatch_due()
    body = twilio.messages[0]["body"]
    assert not is_gsm7(body) and segment_count(body) == 2 and body.endswith("...")


def test_signed_status_callback_updates_the_row_and_forged_ones_are_refused(sms_app, twilio):
    _class_with_sms_student()
    notifications.dispatch_due()
    sid = twilio.messages[0]["sid"]
    client = sms_app.test_client()

    url, form, headers = twilio.status_callback(sid, "undelivered", error_code="30003")
    path = url[len(BASE) :]
    forged = dict(
        headers, **{"X-Twilio-Signature": twilio.sign(url, dict(form, MessageStatus="delivered"))}
    )
    assert client.post(path, data=form, headers=forged).status_code == 403
    assert client.post(path, data=form).status_code == 403
    assert _row().status == "sent"

    assert client.post(path, data=form, headers=headers).status_code == 204
    row = _row()
    assert row.status == "failed" and row.error == "Twilio: undelivered (error 30003)"


def test_rate_limited_answer_is_retried_later_and_a_bad_number_fails_for_good(sms_app, twilio):
    _class_with_sms_student()
    twilio.fail_next = [(429, 20429, "Too Many Requests")]
    notifications.dispatch_due()
    row = _row()
    assert (row.status, row.attempts) == ("pending", 1) and "429" in row.error
    assert notifications.dispatch_due() == 0
    notifications.dispatch_due(now=row.due_at + timedelta(seconds=1))
    assert _row().status == "sent" and len(twilio.messages) == 1

    db.session.execute(db.delete(Notification))
    twilio.fail_next = [(400, 21211, "Invalid 'To' Phone Number: +33612345678")]
    schedule = db.session.execute(db.select(Schedule)).scalar_one()
    notifications.queue_notice(
        notifications.NotificationKind.CLASS_STARTED, schedule, schedule.klass
    )
    db.session.commit()
    notifications.dispatch_due()
    row = _row()
    assert row.status == "failed" and "21211" in row.error and row.attempts == 1


def test_twilio_outage_is_retried_then_failed_shown_to_admins_and_sent_again_once(sms_app, twilio):
    sms_app.config.update(NOTIFY_MAX_ATTEMPTS=3, NOTIFY_RETRY_BACKOFF_SECONDS=10)
    student = _class_with_sms_student()
    twilio.fail_next = [(503, 20503, "Service Unavailable")] * 3
    for _ in range(3):  # the first try, then each retry once its backoff is over
        row = _row()
        notifications.dispatch_due(now=max(row.due_at, utcnow()) + timedelta(seconds=1))
    row = _row()
    assert (row.status, row.attempts, len(twilio.requests), twilio.messages) == ("failed", 3, 3, [])

    admin = users.create_user(
        None, email="admin@tests.school", name="Admin", role="admin", password=PASSWORD
    )
    db.session.commit()
    api = sign_in(sms_app.test_client(), admin)
    [report] = api.get("/api/admin/notifications?channel=sms").get_json()["items"]
    assert (report["id"], report["address"], report["attempts"]) == (row.id, student.phone, 3)
    assert "503" in report["error"] and "Service Unavailable" in report["error"]

    assert api.post(f"/api/admin/notifications/{row.id}/retry").status_code == 200
    notifications.dispatch_due()
    notifications.dispatch_due()
    assert [m["to"] for m in twilio.messages] == [student.phone]
    assert _row().status == "sent"
    assert api.get("/api/admin/notifications").get_json()["items"] == []


def test_wrong_credentials_are_reported_not_retried_forever(sms_app, twilio):
    sms_app.config["TWILIO_AUTH_TOKEN"] = "0" * 32
    _class_with_sms_student()
    notifications.dispatch_due()
    row = _row()
    assert row.status == "failed" and "20003" in row.error


def test_segment_counting_follows_gsm7_and_ucs2_rules():
    assert is_gsm7("Hello [class] €5") and units("€") == 2
    assert segment_count("a" * 160) == 1 and segment_count("a" * 161) == 2
    assert segment_count("é" * 160) == 1  # é is in the GSM-7 basic table
    assert not is_gsm7("Zoë 😀") and segment_count("ж" * 70) == 1 and segment_count("ж" * 71) == 2
    long = "Cours " + "ж" * 300 + " https://portal.example/x"
    short = fit(long)
    assert segment_count(short) <= 2 and short.endswith("... https://portal.example/x")
