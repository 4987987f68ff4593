"""Reminders and notices on the embedded default: in-process dispatch through the outbox."""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from portal_testing import make_app

from portal.core import blocking, classes, notifications, outbox
from portal.core.models import BlockedUser, Notification, User
from portal.core.notifications import rate_limit
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import DeliveryResult, hookimpl


@pytest.fixture(autouse=True)
def _clear_outbox():
    outbox.SENT.clear()
    yield
    outbox.SENT.clear()


def rows(**filters) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.execute(
            db.select(Notification).filter_by(**filters).order_by(Notification.id)
        ).scalars()
    )


def sent_to(address: str, *, invitations: bool = False) -> list:
    """Messages to `address`; the enrolment invitations only when asked for."""
    return [
        m
        for m in outbox.SENT
        if m.recipient == address and invitations == (m.metadata.get("kind") == "class_invitation")
    ]


def enrol(teacher, klass, students: list[int]) -> None:
    """Enrol and commit; the enrolment invitations are left out of tests about other things."""
    classes.enrol(teacher, klass.id, students)
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()


def make_class(teacher, minutes_ahead: float, offsets=(15, 5), channels=("email",), **kw):
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title=kw.pop("title", "Geometry"),
            starts_at=utcnow() + timedelta(minutes=minutes_ahead),
            duration_minutes=60,
            timezone="Europe/Paris",
            reminder_offsets=list(offsets),
            reminder_channels=list(channels),
            **kw,
        ),
    )
    db.session.commit()
    return klass


def test_enrolment_creates_one_row_per_offset_and_channel_at_the_right_times(app, make_user):
    teacher = make_user("teacher")
    alice = make_user("student", phone="+33612345678")
    alice.notify_sms = True
    bob = make_user("student")  # no phone: no SMS row
    klass = make_class(teacher, 120, offsets=(60, 15), channels=("email", "sms"))
    enrol(teacher, klass, [alice.id, bob.id])
    schedule = classes.list_schedules(teacher, klass.id)[0]

    got = {(r.user_id, r.channel, r.key): r.due_at for r in rows(kind="reminder")}
    assert got == {
        (alice.id, "email", "60"): schedule.starts_at - timedelta(minutes=60),
        (alice.id, "email", "15"): schedule.starts_at - timedelta(minutes=15),
        (alice.id, "sms", "60"): schedule.starts_at - timedelta(minutes=60),
        (alice.id, "sms", "15"): schedule.starts_at - timedelta(minutes=15),
        (bob.id, "email", "60"): schedule.starts_at - timedelta(minutes=60),
        (bob.id, "email", "15"): schedule.starts_at - timedelta(minutes=15),
    }
    assert {r.status for r in rows(kind="reminder")} == {"pending"}


def test_due_reminders_go_out_once_and_later_ones_wait(app, make_user):
    teacher, student = make_user("teacher"), make_user("student")
    # Starts in 10 min: the 15-min reminder is overdue (sent now), the 5-min one waits.
    klass = make_class(teacher, 10)
    enrol(teacher, klass, [student.id])

    assert notifications.dispatch_due() == 1
    assert notifications.dispatch_due() == 0
    mails = sent_to(student.email)
    assert len(mails) == 1
    assert mails[0].subject.startswith("Reminder: Geometry starts")
    assert "starts in 15 minutes" in mails[0].text
    assert mails[0].attachments[0].filename == "class.ics"
    assert b"METHOD:REQUEST" in mails[0].attachments[0].data
    by_key = {r.key: r for r in rows(kind="reminder")}
    assert by_key["15"].status == "sent" and by_key["15"].provider_id.startswith("outbox-")
    assert by_key["15"].attempts == 1
    assert by_key["5"].status == "pending"


def test_moved_class_moves_pending_reminders_and_sends_a_moved_notice(app, make_user, login):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 120, offsets=(60,))
    enrol(teacher, klass, [student.id])
    schedule = classes.list_schedules(teacher, klass.id)[0]
    new_start = utcnow().replace(microsecond=0) + timedelta(days=2)

    response = login(teacher).patch(
        f"/api/schedules/{schedule.id}", json={"starts_at": new_start.isoformat()}
    )
    assert response.status_code == 200, response.get_json()

    [reminder] = rows(kind="reminder")
    assert reminder.due_at == new_start - timedelta(minutes=60)
    [moved] = rows(kind="class_moved")
    assert moved.user_id == student.id and moved.status == "pending"
    notifications.dispatch_due()
    [mail] = sent_to(student.email)
    assert mail.subject.startswith("Moved: Geometry is now on")
    assert b"METHOD:REQUEST" in mail.attachments[0].data
    assert new_start.strftime("%Y%m%dT%H%M%S").encode() in mail.attachments[0].data
    assert rows(kind="reminder")[0].status == "pending"  # not due any more


def test_changing_reminder_settings_is_not_a_move(app, make_user, login):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 120, offsets=(60,))
    enrol(teacher, klass, [student.id])
    response = login(teacher).patch(f"/api/classes/{klass.id}", json={"reminder_offsets": [30]})
    assert response.status_code == 200, response.get_json()
    assert rows(kind="class_moved") == []
    assert {(r.key, r.status) for r in rows(kind="reminder")} == {
        ("60", "cancelled"),
        ("30", "pending"),
    }


def test_cancelled_occurrence_stops_reminders_and_notifies_once(app, make_user, login):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 10)
    enrol(teacher, klass, [student.id])
    schedule = classes.list_schedules(teacher, klass.id)[0]

    assert login(teacher).post(f"/api/schedules/{schedule.id}/cancel").status_code == 200
    assert {r.status for r in rows(kind="reminder")} == {"cancelled"}
    notifications.dispatch_due()
    notifications.dispatch_due()
    mails = sent_to(student.email)
    assert [m.subject.split(":")[0] for m in mails] == ["Cancelled"]
    assert b"METHOD:CANCEL" in mails[0].attachments[0].data


def test_cancelling_a_series_sends_one_notice_not_one_per_occurrence(app, make_user, login):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 120, rrule="FREQ=WEEKLY;COUNT=5")
    enrol(teacher, klass, [student.id])
    assert len(rows(kind="reminder")) == 10
    assert login(teacher).post(f"/api/classes/{klass.id}/cancel").status_code == 200
    assert {r.status for r in rows(kind="reminder")} == {"cancelled"}
    notifications.dispatch_due()
    [mail] = sent_to(student.email)
    assert "all its remaining occurrences" in mail.text


def test_blocked_student_gets_nothing_and_unblocking_restores_reminders(app, make_user):
    teacher, admin = make_user("teacher"), make_user("admin")
    student, classmate = make_user("student"), make_user("student")
    klass = make_class(teacher, 10)
    enrol(teacher, klass, [student.id, classmate.id])

    block = blocking.block_user(admin, user_id=student.id, scope="site", reason="spam")
    db.session.commit()
    assert {r.status for r in rows(user_id=student.id)} == {"cancelled"}
    notifications.dispatch_due()
    assert sent_to(student.email) == []
    assert len(sent_to(classmate.email)) == 1

    blocking.unblock(admin, block.id)
    db.session.commit()
    # The overdue 15-min reminder comes back; the 5-min one is pending again too.
    assert {r.key: r.status for r in rows(user_id=student.id, kind="reminder")} == {
        "15": "pending",
        "5": "pending",
    }


def test_class_block_and_unenrolment_cancel_pending_rows(app, make_user):
    teacher = make_user("teacher")
    student, leaver = make_user("student"), make_user("student")
    klass = make_class(teacher, 120)
    enrol(teacher, klass, [student.id, leaver.id])
    blocking.block_user(
        teacher, user_id=student.id, scope="class", class_id=klass.id, reason="rude"
    )
    classes.unenrol(teacher, klass.id, leaver.id)
    db.session.commit()
    assert {r.status for r in rows(kind="reminder")} == {"cancelled"}


def test_send_time_check_catches_a_block_after_the_claim(app, make_user):
    teacher, admin, student = make_user("teacher"), make_user("admin"), make_user("student")
    klass = make_class(teacher, 10)
    enrol(teacher, klass, [student.id])
    [claimed] = notifications.claim_due()
    # Blocked between the claim and the send (rows in flight are not touched by the block).
    db.session.add(
        BlockedUser(user_id=student.id, scope="site", reason="late block", blocked_by=admin.id)
    )
    db.session.commit()
    assert notifications.deliver(claimed).action == "cancelled"
    assert list(outbox.SENT) == []
    assert rows(id=claimed)[0].error == "the user is blocked"


def test_started_class_notifies_students_once(school, login):
    outbox.SENT.clear()
    notifications.cancel_pending(reason="not under test", kinds=["reminder", "class_invitation"])
    db.session.commit()
    teacher = login(school.teacher)
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    notifications.dispatch_due()
    notifications.dispatch_due()
    subjects = sorted((m.recipient, m.subject) for m in outbox.SENT)
    assert subjects == sorted(
        [
            (school.student.email, "Algebra has started: join now"),
            (school.classmate.email, "Algebra has started: join now"),
        ]
    )


def test_new_recording_notifies_students(school, login):
    from portal.core import meetings
    from portal.core.models import Meeting
    from portal.plugins import RecordingInfo

    notifications.cancel_pending(reason="not under test", kinds=["reminder", "class_invitation"])
    db.session.commit()
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    notifications.cancel_pending(reason="not under test", kinds=["class_started"])
    db.session.commit()
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    info = RecordingInfo(
        record_id="rec-1", title="Algebra", playback_url="https://play.example/rec-1"
    )
    meetings.store_recording(meeting, info)
    meetings.store_recording(meeting, info)  # a repeated callback changes nothing
    outbox.SENT.clear()
    notifications.dispatch_due()
    got = sorted((m.recipient, m.subject) for m in outbox.SENT)
    assert got == sorted(
        [
            (school.student.email, "Recording available: Algebra"),
            (school.classmate.email, "Recording available: Algebra"),
        ]
    )
    assert "https://play.example/rec-1" in outbox.SENT[0].text


def test_claims_are_disjoint_and_a_dead_claim_is_taken_over_after_the_lease(app, make_user):
    teacher = make_user("teacher")
    students = [make_user("student") for _ in range(6)]
    klass = make_class(teacher, 10, offsets=(15,))
    enrol(teacher, klass, [s.id for s in students])
    first = notifications.claim_due(4)
    second = notifications.claim_due(4)
    assert len(first) == 4 and len(second) == 2 and not set(first) & set(second)
    assert notifications.claim_due(4) == []
    # Nobody delivered `first`: after the lease another claimer takes them over.
    later = utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)
    assert sorted(notifications.claim_due(10, now=later)) == sorted(first + second)


def test_a_row_whose_worker_died_while_sending_is_never_resent(app, make_user):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 10, offsets=(15,))
    enrol(teacher, klass, [student.id])
    [nid] = notifications.claim_due()
    row = db.session.get(Notification, nid)
    row.status = "sending"  # what a worker killed during the provider call leaves behind
    db.session.commit()
    later = utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)
    assert notifications.claim_due(10, now=later) == []
    assert rows(id=nid)[0].status == "failed"
    assert "not resent" in rows(id=nid)[0].error


class Flaky:
    """A provider that fails temporarily, then for good; records the delivered events."""

    __name__ = "flaky_notifier"
    channel = "email"
    name = "flaky"

    def __init__(self):
        self.results: list[DeliveryResult] = []
        self.calls = 0
        self.delivered: list[tuple[int, str]] = []

    def send(self, message):
        self.calls += 1
        return self.results.pop(0)

    @hookimpl
    def register_notifiers(self, register):
        register(self)

    @hookimpl
    def notification_delivered(self, notification, result):
        self.delivered.append((notification.id, result.status))


def test_retryable_failures_back_off_then_fail_for_good(database_url, tmp_path, make_user):
    flaky = Flaky()
    app = make_app(
        database_url,
        tmp_path,
        EXTRA_PLUGINS=[flaky],
        NOTIFY_EMAIL_PROVIDER="flaky",
        NOTIFY_RETRY_BACKOFF_SECONDS=30,
    )
    with app.app_context():
        teacher, student = make_user("teacher"), make_user("student")
        klass = make_class(teacher, 10)
        enrol(teacher, klass, [student.id])
        flaky.results = [
            DeliveryResult("failed", retryable=True, error="421 try later"),
            DeliveryResult("failed", retryable=False, error="550 no such user"),
        ]
        notifications.dispatch_due()
        [row] = rows(key="15")
        assert (row.status, row.attempts, row.error) == ("pending", 1, "421 try later")
        assert row.due_at > utcnow() + timedelta(seconds=20)
        assert notifications.dispatch_due() == 0  # backing off
        notifications.dispatch_due(now=row.due_at + timedelta(seconds=1))
        [row] = rows(key="15")
        assert (row.status, row.attempts, row.error) == ("failed", 2, "550 no such user")
        assert flaky.calls == 2
        assert flaky.delivered == [(row.id, "failed")]
        db.session.remove()


def test_unsubscribe_link_turns_the_channel_off(app, make_user, client):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 120)
    enrol(teacher, klass, [student.id])
    url = notifications.unsubscribe_url(student, "email")
    path = url.split("://", 1)[1].split("/", 1)[1]

    page = client.get(f"/{path}")
    assert page.status_code == 200 and b"Unsubscribe" in page.data
    assert db.session.get(User, student.id).notify_email is True  # GET changes nothing

    done = client.post(f"/{path}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"will no longer receive" in done.data
    db.session.expire_all()
    assert db.session.get(User, student.id).notify_email is False
    assert {r.status for r in rows(kind="reminder")} == {"cancelled"}

    assert client.get(f"/{path[:-3]}xyz").status_code == 404
    api = client.post("/api/notifications/unsubscribe", json={"token": "forged"})
    assert (
        api.status_code == 404
        and api.get_json()["error"]["message"] == "this unsubscribe link is not valid"
    )


def test_invalid_phone_and_email_are_refused_with_a_clear_400(app, make_user, login):
    admin, student = make_user("admin"), make_user("student")
    api = login(admin)
    bad_mail = api.post("/api/users", json={"email": "not-an-address", "name": "X"})
    assert bad_mail.status_code == 400
    assert bad_mail.get_json()["error"]["code"] == "invalid_email"
    assert "invalid email address" in bad_mail.get_json()["error"]["message"]

    bad_phone = api.post(
        "/api/users", json={"email": "x@tests.school", "name": "X", "phone": "0612"}
    )
    assert bad_phone.status_code == 400
    error = bad_phone.get_json()["error"]
    assert (error["code"], error["message"]) == (
        "invalid_phone",
        "phone number must be in international format, e.g. +33612345678",
    )

    own = login(student)
    patch = own.patch(f"/api/users/{student.id}", json={"phone": "12-ab"})
    assert patch.status_code == 400 and patch.get_json()["error"]["code"] == "invalid_phone"
    no_phone = own.patch(f"/api/users/{student.id}", json={"notify_sms": True})
    assert no_phone.status_code == 400 and no_phone.get_json()["error"]["code"] == "no_phone"
    ok = own.patch(
        f"/api/users/{student.id}", json={"phone": "+44 20 7946 0958", "notify_sms": True}
    )
    assert ok.status_code == 200 and ok.get_json()["phone"] == "+442079460958"


def test_in_process_scheduler_runs_the_same_dispatch(database_url, tmp_path, make_user):
    from portal import tasks

    app = make_app(database_url, tmp_path, NOTIFY_SCAN_SECONDS=1)
    with app.app_context():
        teacher, student = make_user("teacher"), make_user("student")
        klass = make_class(teacher, 10)
        enrol(teacher, klass, [student.id])
        address = student.email
        db.session.remove()
    scheduler = tasks.InProcessScheduler(app)
    scheduler.start()
    try:
        for _ in range(100):
            if sent_to(address):
                break
            time.sleep(0.1)
    finally:
        scheduler.stop()
        scheduler.join(timeout=10)
    assert len(sent_to(address)) == 1


def test_rate_limit_is_per_provider(app):
    app.config["NOTIFY_RATE_LIMITS"] = "outbox=2"
    email, sms = notifications.notifier_for("email"), notifications.notifier_for("sms")
    now = time.time()
    rate_limit.limiter().clock = lambda: now  # one window: the third message must wait
    waits = [notifications.rate_limit_wait(email) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and 0 < waits[2] <= 1.01
    app.config["NOTIFY_RATE_LIMITS"] = ""
    assert notifications.rate_limit_wait(sms) == 0.0


@pytest.mark.redis
def test_rate_limit_is_shared_through_redis(database_url, tmp_path, redis_url):
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, NOTIFY_RATE_LIMITS="outbox=2")
    with app.app_context():
        email = notifications.notifier_for("email")
        # The counter is per second: all three messages in one (fixed) second.
        one_second = float(int(time.time())) + 0.5
        rate_limit.limiter().clock = lambda: one_second
        waits = [notifications.rate_limit_wait(email) for _ in range(3)]
        assert waits[:2] == [0.0, 0.0] and 0 < waits[2] <= 1.01
        # Another process's limiter (same Redis, same second) sees the counter full too.
        other = rate_limit.ProviderRateLimiter(redis_url, clock=lambda: one_second)
        assert other.wait("outbox", 2) > 0


def test_rate_limit_falls_back_to_this_process_when_redis_is_down(
    database_url, tmp_path, make_user
):
    from portal_testing import free_port

    app = make_app(
        database_url,
        tmp_path,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        NOTIFY_RATE_LIMITS="outbox=2",
    )
    with app.app_context():
        email = notifications.notifier_for("email")
        clock = rate_limit.limiter()
        start = time.time()
        clock.clock = lambda: start
        waits = [notifications.rate_limit_wait(email) for _ in range(3)]
        # Still limited (two per second), and no reminder stopped by the missing counter.
        assert waits[:2] == [0.0, 0.0] and 0 < waits[2] <= 1.01
        teacher, student = make_user("teacher"), make_user("student")
        enrol(teacher, make_class(teacher, 10, offsets=(15,)), [student.id])
        clock.clock = lambda: start + 1.5  # a fresh second: the window above is full
        [claimed] = notifications.claim_due()
        assert notifications.deliver(claimed).action == "sent"  # as the Celery task does it
        assert [r.status for r in rows(kind="reminder")] == ["sent"]
        assert len(sent_to(student.email)) == 1
        db.session.remove()


def test_enrolment_sends_one_invitation_with_every_upcoming_occurrence(app, make_user):
    from icalendar import Calendar

    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 120, rrule="FREQ=WEEKLY;COUNT=3", title="Latin")
    classes.enrol(teacher, klass.id, [student.id])
    classes.unenrol(teacher, klass.id, student.id)
    db.session.commit()
    assert {r.status for r in rows(kind="class_invitation")} == {"cancelled"}
    classes.enrol(teacher, klass.id, [student.id])  # re-enrolled: the invitation is back
    db.session.commit()
    notifications.dispatch_due()
    notifications.dispatch_due()
    [mail] = sent_to(student.email, invitations=True)
    assert mail.subject.startswith("You are enrolled in Latin: first class ")
    assert "adds all 3 upcoming classes to your calendar" in mail.text
    events = Calendar.from_ical(mail.attachments[0].data).walk("VEVENT")
    schedules = classes.list_schedules(teacher, klass.id)
    assert [str(e["UID"]) for e in events] == [f"schedule-{s.id}@127.0.0.1" for s in schedules]

    sms_only = make_class(teacher, 120, channels=("sms",))
    classes.enrol(teacher, sms_only.id, [student.id])
    db.session.commit()
    assert (
        rows(
            kind="class_invitation", schedule_id=classes.list_schedules(teacher, sms_only.id)[0].id
        )
        == []
    )


def test_a_move_notice_superseded_by_another_move_is_not_sent(app, make_user, login):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 120, offsets=(60,))
    enrol(teacher, klass, [student.id])
    schedule = classes.list_schedules(teacher, klass.id)[0]
    api = login(teacher)
    first = utcnow().replace(microsecond=0) + timedelta(days=2)
    second = first + timedelta(hours=3)
    assert (
        api.patch(
            f"/api/schedules/{schedule.id}", json={"starts_at": first.isoformat()}
        ).status_code
        == 200
    )
    assert (
        api.patch(
            f"/api/schedules/{schedule.id}", json={"starts_at": second.isoformat()}
        ).status_code
        == 200
    )
    notifications.dispatch_due()
    [mail] = sent_to(student.email)
    # The recipient's language's full date (English here: "Thursday, December 3, 2026").
    paris = second.astimezone(ZoneInfo("Europe/Paris"))
    assert __import__("babel.dates").dates.format_date(paris, "full", locale="en") in mail.subject
    assert {r.error for r in rows(kind="class_moved", status="cancelled")} == {
        "superseded: the class moved again"
    }


def test_moving_several_occurrences_at_once_sends_one_notice(app, make_user):
    teacher, student = make_user("teacher"), make_user("student")
    klass = make_class(teacher, 120, offsets=(60,), rrule="FREQ=WEEKLY;COUNT=3")
    enrol(teacher, klass, [student.id])
    for schedule in classes.list_schedules(teacher, klass.id):
        classes.reschedule_occurrence(teacher, schedule.id, schedule.starts_at + timedelta(hours=2))
    db.session.commit()
    assert len(rows(kind="class_moved")) == 1
    schedule = classes.list_schedules(teacher, klass.id)[1]
    classes.reschedule_occurrence(teacher, schedule.id, schedule.starts_at + timedelta(hours=1))
    db.session.commit()
    assert len(rows(kind="class_moved")) == 2  # a later, separate change is announced again


def test_enrolling_in_a_long_series_costs_no_queries_per_occurrence(app, make_user):
    import sqlalchemy as sa

    teacher = make_user("teacher")
    counts = {}
    for n in (2, 20):
        klass = make_class(teacher, 120, rrule=f"FREQ=DAILY;COUNT={n}", title=f"Series {n}")
        student = make_user("student")
        statements: list[str] = []

        def count(conn, cursor, statement, *args, _seen=statements):
            _seen.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            classes.enrol(teacher, klass.id, [student.id])
            db.session.flush()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        db.session.commit()
        counts[n] = len(statements)
        assert len(rows(kind="reminder", user_id=student.id)) == 2 * n
    assert counts[20] == counts[2], counts


class Batching:
    """A provider that takes several messages per call (send_many) and records the calls."""

    __name__ = "batching_notifier"
    channel = "email"
    name = "batching"

    def __init__(self):
        self.batches: list[list[str]] = []
        self.single: list[str] = []

    def send(self, message):
        self.single.append(message.recipient)
        return DeliveryResult("sent", provider_id=f"one-{message.notification_id}")

    def send_many(self, messages):
        self.batches.append([m.recipient for m in messages])
        return [DeliveryResult("sent", provider_id=f"many-{m.notification_id}") for m in messages]

    @hookimpl
    def register_notifiers(self, register):
        register(self)


def _due_reminders(teacher, how_many: int, make_user, title: str) -> list[str]:
    """`how_many` students whose reminder is due now; returns their addresses."""
    students = [make_user("student") for _ in range(how_many)]
    enrol(teacher, make_class(teacher, 10, offsets=(15,), title=title), [s.id for s in students])
    return [s.email for s in students]


def _statements_of(action) -> int:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)


@pytest.mark.real_commits
def test_a_due_batch_goes_to_send_many_in_windows_with_a_few_statements_for_all(
    database_url, tmp_path, make_user
):
    """Delivering a batch costs the database a few statements per send window, not a
    handful per row; the provider gets the messages NOTIFY_SEND_WINDOW at a time."""
    batching = Batching()
    app = make_app(
        database_url,
        tmp_path,
        EXTRA_PLUGINS=[batching],
        NOTIFY_EMAIL_PROVIDER="batching",
        NOTIFY_SEND_WINDOW=10,
    )
    with app.app_context():
        teacher = make_user("teacher")
        counts = {}
        for how_many in (5, 45):
            addresses = _due_reminders(teacher, how_many, make_user, f"Batch {how_many}")
            batching.batches.clear()
            counts[how_many] = _statements_of(notifications.dispatch_due)
            assert sorted(a for batch in batching.batches for a in batch) == sorted(addresses)
            assert [len(batch) for batch in batching.batches] == (
                [5] if how_many == 5 else [10, 10, 10, 10, 5]
            )
        assert batching.single == []
        sent = rows(kind="reminder", status="sent")
        assert len(sent) == 50 and all(r.provider_id.startswith("many-") for r in sent)
        assert {r.attempts for r in sent} == {1}
        # 40 more rows cost 4 more windows (a 'sending' mark, the answers, and the site's
        # default language read once per window's transaction), not 40 times the
        # statements of one row.
        assert counts[45] - counts[5] <= 4 * 3, counts
        db.session.remove()


def test_a_notifier_without_send_many_gets_each_message_through_send(app, make_user):
    """The outbox has no send_many: a batch still reaches it, one send per message, once."""
    from portal.plugins import BatchNotifier

    assert not isinstance(notifications.notifier_for("email"), BatchNotifier)
    teacher = make_user("teacher")
    addresses = _due_reminders(teacher, 12, make_user, "Outbox")
    assert notifications.dispatch_due() == 12
    assert sorted(m.recipient for m in outbox.SENT) == sorted(addresses)
    assert {r.status for r in rows(kind="reminder")} == {"sent"}
    assert notifications.dispatch_due() == 0
    assert len(outbox.SENT) == 12


def test_the_scan_hands_out_delivery_tasks_as_it_claims_not_after_claiming_everything(
    app, make_user
):
    """With a broker, the first delivery tasks are queued once one task's worth of rows is
    claimed (the first messages go out while the rest is still being claimed), the claims
    then grow to full batches, and every due row is handed out exactly once."""
    app.config.update(NOTIFY_BATCH_SIZE=500, NOTIFY_TASK_CHUNK=20)
    teacher = make_user("teacher")
    _due_reminders(teacher, 120, make_user, "Ramp")
    claimed_when_first_queued: list[int] = []
    handed: list[int] = []

    def fan_out(notification_ids: list[int]) -> None:
        if not claimed_when_first_queued:
            claimed_when_first_queued.append(len(rows(status="claimed")))
        handed.extend(notification_ids)

    claimed = notifications.dispatch_due(fan_out=fan_out)

    assert claimed == 120 == len(rows(status="claimed"))
    assert claimed_when_first_queued == [20]  # not 120: the first claim is one task's worth
    assert sorted(handed) == [r.id for r in rows(status="claimed")]
