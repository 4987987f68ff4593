"""A user opts out of (and back into) any registered channel, a third-party notifier's too:
reminders on that channel stop, email still arrives over real SMTP (aiosmtpd)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from portal_testing import PASSWORD, in_context, make_app, sign_in
from smtp_double import SmtpDouble

from portal.core import classes, notifications, users
from portal.core.models import Notification
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import DeliveryResult, hookimpl


class PushNotifier:
    """A third-party plugin's notifier: a "push" channel that records what it was sent."""

    __name__ = "push_notifier"
    channel = "push"
    name = "push-test"
    label = "push notification"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message):
        self.sent.append(message.recipient)
        return DeliveryResult("sent", provider_id=f"push-{len(self.sent)}")

    @hookimpl
    def register_notifiers(self, register):
        register(self)


@pytest.fixture
def push():
    return PushNotifier()


@pytest.fixture
def smtp():
    server = SmtpDouble().start()
    yield server
    server.stop()


@pytest.fixture
def portal_app(database_url, tmp_path, push, smtp):
    app = make_app(
        database_url,
        tmp_path,
        EXTRA_PLUGINS=[push],
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp.port,
        SMTP_SECURITY="none",
    )
    yield from in_context(app)


def _class_with_student(minutes_ahead: float):
    teacher = users.create_user(
        None, email="teacher@tests.school", name="Teacher", role="teacher", password=PASSWORD
    )
    student = users.create_user(
        None, email="ana@tests.school", name="Ana", role="student", password=PASSWORD
    )
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title="Biology",
            starts_at=utcnow() + timedelta(minutes=minutes_ahead),
            duration_minutes=45,
            timezone="Europe/Paris",
            reminder_offsets=[15],
            reminder_channels=["email", "push"],
        ),
    )
    db.session.commit()
    return teacher, student, klass


def _enrol(teacher, klass, student) -> None:
    classes.enrol(teacher, klass.id, [student.id])
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()


def _reminders() -> dict[str, str]:
    db.session.expire_all()
    rows = db.session.execute(db.select(Notification).filter_by(kind="reminder")).scalars()
    return {row.channel: row.status for row in rows}


def test_opting_out_of_a_plugin_channel_stops_it_and_email_still_arrives(portal_app, push, smtp):
    teacher, student, klass = _class_with_student(minutes_ahead=10)
    api = sign_in(portal_app.test_client(), student)
    me = api.get("/api/auth/me").get_json()
    assert me["channels"] == {"email": True, "sms": False, "push": True}

    out = api.patch(f"/api/users/{student.id}", json={"channels": {"push": False}})
    assert out.status_code == 200, out.get_json()
    assert out.get_json()["channels"] == {"email": True, "sms": False, "push": False}
    browser = portal_app.test_client()  # the profile page, signed in with the login cookies
    browser.post("/api/auth/login", json={"email": student.email, "password": PASSWORD})
    page = browser.get("/profile").get_data(as_text=True)
    assert 'name="channel" value="push"> by push notification' in page  # its label; unchecked
    assert 'name="channel" value="email" checked>' in page

    _enrol(teacher, klass, student)
    assert _reminders() == {"email": "pending"}  # nothing planned on the channel turned off
    notifications.dispatch_due()
    assert [r.rcpt_tos for r in smtp.received] == [[student.email]]
    assert push.sent == []
    assert _reminders() == {"email": "sent"}


def test_opting_back_in_plans_the_channel_again(portal_app, push, smtp):
    teacher, student, klass = _class_with_student(minutes_ahead=10)
    _enrol(teacher, klass, student)
    assert _reminders() == {"email": "pending", "push": "pending"}
    api = sign_in(portal_app.test_client(), student)

    assert (
        api.patch(f"/api/users/{student.id}", json={"channels": {"push": False}}).status_code == 200
    )
    assert _reminders() == {"email": "pending", "push": "cancelled"}
    back = api.patch(f"/api/users/{student.id}", json={"channels": {"push": True}})
    assert back.status_code == 200 and back.get_json()["channels"]["push"] is True
    assert _reminders() == {"email": "pending", "push": "pending"}

    notifications.dispatch_due()
    assert push.sent == [student.email]
    assert [r.rcpt_tos for r in smtp.received] == [[student.email]]


def test_an_unknown_channel_or_sms_without_a_phone_is_refused(portal_app):
    _teacher, student, _klass = _class_with_student(minutes_ahead=60)
    api = sign_in(portal_app.test_client(), student)
    unknown = api.patch(f"/api/users/{student.id}", json={"channels": {"pager": False}})
    assert unknown.status_code == 400
    assert unknown.get_json()["error"]["code"] == "unknown_channel"
    assert "email, sms, push" in unknown.get_json()["error"]["message"]
    no_phone = api.patch(f"/api/users/{student.id}", json={"channels": {"sms": True}})
    assert no_phone.status_code == 400 and no_phone.get_json()["error"]["code"] == "no_phone"


def test_the_unsubscribe_link_of_a_plugin_channel_turns_it_off(portal_app, push):
    teacher, student, klass = _class_with_student(minutes_ahead=60)
    _enrol(teacher, klass, student)
    token = notifications.unsubscribe_url(student, "push").rsplit("/", 1)[1]
    done = portal_app.test_client().post("/api/notifications/unsubscribe", json={"token": token})
    assert done.status_code == 200
    assert done.get_json()["channels"] == {"email": True, "sms": False, "push": False}
    assert _reminders() == {"email": "pending", "push": "cancelled"}
