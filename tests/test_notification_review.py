"""Admins see failed notifications (who, which class, what the provider said) and send
them again once the cause is fixed; nobody else sees anyone's deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from portal_testing import PASSWORD, make_app
from test_notifications import Flaky, enrol, make_class, rows

from portal.core import notifications, outbox
from portal.core.models import AuditLog, Notification, Schedule
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import DeliveryResult


@pytest.fixture
def flaky(app, database_url, tmp_path):
    """An app whose email provider answers what the test says (its context on top of the
    `app` fixture's, which serves the API and pages on the same database)."""
    provider = Flaky()
    app = make_app(
        database_url,
        tmp_path,
        EXTRA_PLUGINS=[provider],
        NOTIFY_EMAIL_PROVIDER="flaky",
        NOTIFY_RETRY_BACKOFF_SECONDS=0,
        NOTIFY_MAX_ATTEMPTS=3,
    )
    with app.app_context():
        yield app, provider
        db.session.remove()


def _fail_a_reminder(make_user, provider, *, title="Geometry", email=None):
    teacher, student = (
        make_user("teacher"),
        make_user("student", **({"email": email} if email else {})),
    )
    klass = make_class(teacher, 10, offsets=(15,), title=title)
    enrol(teacher, klass, [student.id])
    provider.results = [
        DeliveryResult("failed", retryable=True, error="421 4.7.0 Try again later")
    ] * 3
    for _ in range(3):  # the first try and two retries, each due at once (no backoff)
        notifications.dispatch_due()
    [row] = rows(kind="reminder", user_id=student.id)
    return student, klass, row


def test_refused_retried_then_failed_and_the_admin_sees_who_what_and_why(flaky, make_user, login):
    app, provider = flaky
    student, klass, row = _fail_a_reminder(make_user, provider, email="ana@tests.school")
    assert (row.status, row.attempts, provider.calls) == ("failed", 3, 3)

    admin = login(make_user("admin"))
    page = admin.get("/api/admin/notifications")
    assert page.status_code == 200
    body = page.get_json()
    [item] = body["items"]
    assert item["id"] == row.id and item["status"] == "failed" and item["attempts"] == 3
    assert item["error"] == "421 4.7.0 Try again later"
    assert (item["user_name"], item["address"], item["class_title"]) == (
        student.name,
        "ana@tests.school",
        "Geometry",
    )
    assert (
        item["class_id"] == klass.id and item["kind"] == "reminder" and item["channel"] == "email"
    )
    assert body["total"] == 1 and body["last_7_days"]["failed"] == 1

    assert admin.get("/api/admin/notifications?channel=sms").get_json()["items"] == []
    every = admin.get("/api/admin/notifications?status=any").get_json()["items"]
    assert {(i["kind"], i["status"]) for i in every} == {
        ("reminder", "failed"),
        ("class_invitation", "cancelled"),
    }
    bad = admin.get("/api/admin/notifications?status=lost")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "validation_error"


def test_only_admins_see_deliveries(flaky, make_user, login):
    _, provider = flaky
    student, _, row = _fail_a_reminder(make_user, provider)
    for role in ("student", "teacher"):
        api = login(make_user(role))
        assert api.get("/api/admin/notifications").status_code == 403
        assert api.post(f"/api/admin/notifications/{row.id}/retry").status_code == 403
    assert login(student).get("/api/admin/notifications").status_code == 403
    assert rows(id=row.id)[0].status == "failed"  # nothing changed by the refused calls


def test_send_again_delivers_once_the_provider_accepts(flaky, make_user, login):
    _, provider = flaky
    student, _, row = _fail_a_reminder(make_user, provider)
    admin_user = make_user("admin")
    admin = login(admin_user)

    again = admin.post(f"/api/admin/notifications/{row.id}/retry")
    assert again.status_code == 200
    assert (
        again.get_json()["status"],
        again.get_json()["attempts"],
        again.get_json()["error"],
    ) == ("pending", 0, None)
    provider.results = [DeliveryResult("sent", provider_id="msg-1")]
    notifications.dispatch_due()
    [row] = rows(id=row.id)
    assert (row.status, row.provider_id, row.attempts) == ("sent", "msg-1", 1)
    assert provider.calls == 4
    assert notifications.dispatch_due() == 0  # and never a second time

    twice = admin.post(f"/api/admin/notifications/{row.id}/retry")
    assert (
        twice.status_code == 409 and twice.get_json()["error"]["code"] == "notification_not_failed"
    )
    assert admin.post("/api/admin/notifications/999999/retry").status_code == 404
    audit = db.session.execute(
        db.select(AuditLog).filter_by(action="notification.retry")
    ).scalar_one()
    assert audit.actor_id == admin_user.id and audit.target_id == str(row.id)


def test_a_reminder_for_a_class_that_already_started_is_not_sent_again(flaky, make_user, login):
    _, provider = flaky
    _, _, row = _fail_a_reminder(make_user, provider)
    schedule = db.session.get(Schedule, row.schedule_id)
    schedule.starts_at = utcnow() - timedelta(minutes=30)
    schedule.ends_at = utcnow() + timedelta(minutes=30)
    db.session.commit()
    response = login(make_user("admin")).post(f"/api/admin/notifications/{row.id}/retry")
    assert response.status_code == 409
    assert (
        response.get_json()["error"]["message"]
        == "not sent again: too late: the class already started"
    )
    assert rows(id=row.id)[0].status == "failed"


def test_retried_reminder_keeps_following_its_class(flaky, make_user, login):
    """A reminder sent again keeps its own due time, so moving the class later is still
    recognised as a move (one notice), not mistaken for one by the retry."""
    _, provider = flaky
    _, klass, row = _fail_a_reminder(make_user, provider)
    login(make_user("admin")).post(f"/api/admin/notifications/{row.id}/retry")
    [row] = rows(id=row.id)
    schedule = db.session.get(Schedule, row.schedule_id)
    assert row.due_at == schedule.starts_at - timedelta(minutes=15)


def test_admin_pages_show_the_failures_escaped(flaky, make_user, client):
    _, provider = flaky
    _fail_a_reminder(make_user, provider, title="<script>alert(1)</script> Chemistry")
    admin = make_user("admin")
    assert (
        client.post("/login", data={"email": admin.email, "password": PASSWORD}).status_code == 302
    )

    home = client.get("/admin")
    assert home.status_code == 200 and b"1 failed" in home.data
    page = client.get("/admin/notifications")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "421 4.7.0 Try again later" in html and "Send again" in html
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; Chemistry" in html and "<script>alert(1)" not in html
    )
    sent = client.get("/admin/notifications?status=sent")
    assert "Nothing here" in sent.get_data(as_text=True)
    # Hand-edited addresses fall back to the default view instead of an error page.
    odd = client.get("/admin/notifications?status=lost&channel=fax&page=abc")
    assert odd.status_code == 200 and "421 4.7.0 Try again later" in odd.get_data(as_text=True)


def test_an_empty_report_counts_every_status_at_zero(app, make_user, login):
    outbox.SENT.clear()
    body = login(make_user("admin")).get("/api/admin/notifications").get_json()
    assert body["items"] == [] and body["total"] == 0
    assert set(body["last_7_days"]) == {
        "pending",
        "claimed",
        "sending",
        "sent",
        "failed",
        "cancelled",
    }
    assert db.session.execute(db.select(db.func.count(Notification.id))).scalar_one() == 0
