"""The calendar benchmark writes its 100k-class school with COPY, around the ORM, so a schema
change the bench did not follow made the whole scenario fail at the first COPY (users'
notify_email columns became channel_preferences; the run printed 'scenario failed' and no
calendar figure). This runs its populate at a tiny size on the migrated schema of the day and
reads the school back through the portal."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.skipif(
    not os.environ.get("PORTAL_TEST_DATABASE_URL"), reason="COPY needs PostgreSQL"
)


def test_the_bench_school_is_one_the_portal_reads(private_database_url, tmp_path):
    from portal_testing import make_app

    from bench.calendar import populate
    from portal.core import classes
    from portal.core.models import Class, User
    from portal.extensions import db
    from portal.plugin_setup import upgrade_database

    app = make_app(private_database_url, tmp_path)
    with app.app_context():
        upgrade_database()
        db.engine.dispose()

    populate(private_database_url, classes=30, teachers=3, students=40, per_class=5)

    with app.app_context():
        student = db.session.execute(
            sa.select(User).where(User.email == "student7@bench.school")
        ).scalar_one()
        assert student.receives("email") and not student.receives("sms")
        assert db.session.execute(sa.select(sa.func.count(Class.id))).scalar_one() == 30
        admin = db.session.execute(
            sa.select(User).where(User.email == "admin@bench.school")
        ).scalar_one()
        # More classes than a page: the admin's total is the kept class_totals row.
        page, total = classes.list_classes(admin, limit=10)
        db.session.remove()
        db.engine.dispose()
    assert (len(page), total) == (10, 30)
