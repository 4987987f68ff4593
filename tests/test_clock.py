"""The portal's clock (portal/core/clock.py): the rules that read the time follow it, so a
test steps time with the `clock` fixture instead of sleeping through it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core import classes, login_guard, notifications
from portal.core.errors import TooManyRequests
from portal.core.notifications import rate_limit
from portal.core.types import utcnow
from portal.extensions import db


def test_a_reminder_falls_due_when_the_clock_reaches_its_time(app, make_user, clock):
    teacher, student = make_user("teacher"), make_user("student")
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title="Geometry",
            starts_at=utcnow() + timedelta(minutes=20),
            duration_minutes=60,
            timezone="Europe/Paris",
            reminder_offsets=[15],  # due in five minutes
        ),
    )
    classes.enrol(teacher, klass.id, [student.id])
    notifications.cancel_pending(reason="not under test", kinds=["class_invitation"])
    db.session.commit()

    clock.advance(minutes=4, seconds=59)
    assert notifications.claim_due() == []
    clock.advance(seconds=2)
    assert len(notifications.claim_due()) == 1


def test_the_notification_rate_window_moves_with_the_clock(app, clock):
    limiter = rate_limit.ProviderRateLimiter(redis_url=None)
    assert [limiter.wait("smtp", 2) for _ in range(2)] == [0.0, 0.0]
    assert 0 < limiter.wait("smtp", 2) <= 1.01  # a third in the same second waits
    clock.advance(seconds=1.01)
    assert limiter.wait("smtp", 2) == 0.0


def test_a_login_lockout_ends_when_the_clock_passes_it(app, clock):
    app.config.update(LOGIN_LOCKOUT_THRESHOLD=1, LOGIN_LOCKOUT_BASE_SECONDS=30)
    login_guard.record_failure("someone@tests.school")
    with pytest.raises(TooManyRequests):
        login_guard.check("someone@tests.school")
    clock.advance(seconds=29)
    assert 0 < login_guard.wait_seconds("someone@tests.school") <= 1
    clock.advance(seconds=2)
    login_guard.check("someone@tests.school")  # no longer refused
