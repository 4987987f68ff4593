"""portal.plugins.services: one transaction per unit of work, events after its commit, and
answers as contract dataclasses (never rows)."""

from __future__ import annotations

import pytest

from portal.core.models import User
from portal.extensions import db
from portal.plugins import MeetingRecord, NotFound, PeriodicJob, UserInfo, hookimpl, services


def _rename(user_id: int, name: str) -> None:
    # A plugin changes core data only through services; here the test stands in for one.
    db.session.get(User, user_id).name = name


def test_unit_of_work_commits_once_then_runs_the_queued_callbacks(app, make_user):
    user = make_user("student")
    seen = []
    with services.unit_of_work():
        _rename(user.id, "Renamed")
        services.after_commit(lambda: seen.append(services.get_user(user.id).name))
        assert seen == []  # not before the commit
    db.session.remove()  # a fresh session sees only what was committed
    assert seen == ["Renamed"]
    assert services.get_user(user.id).name == "Renamed"


def test_unit_of_work_rolls_back_and_drops_callbacks_on_error(app, make_user):
    user_id = make_user("student").id
    before = services.get_user(user_id).name
    seen = []
    with pytest.raises(NotFound), services.unit_of_work():
        _rename(user_id, "Lost")
        services.after_commit(lambda: seen.append("ran"))
        raise NotFound("something was missing")
    db.session.remove()
    assert services.get_user(user_id).name == before
    assert seen == []


def test_nested_units_of_work_commit_with_the_outer_one(app, make_user):
    user_id = make_user("student").id
    with pytest.raises(RuntimeError), services.unit_of_work():
        with services.unit_of_work():
            _rename(user_id, "Inner")
        raise RuntimeError("outer fails after the inner finished")
    db.session.remove()
    assert services.get_user(user_id).name != "Inner"


def test_people_and_meetings_come_back_as_contract_dataclasses(school, login):
    started = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert started.status_code == 200
    record = services.find_meeting(
        "fake", db.session.execute(db.text("select backend_meeting_id from meetings")).scalar_one()
    )
    assert isinstance(record, MeetingRecord)
    assert (record.class_id, record.class_title, record.status) == (
        school.klass.id,
        "Algebra",
        "running",
    )
    assert isinstance(services.get_user(school.student.id), UserInfo)
    assert services.get_user(school.student.id).role == "student"
    assert services.is_member(school.student.id, school.klass.id)
    assert not services.is_member(school.outsider.id, school.klass.id)
    assert services.is_class_manager(school.teacher.id, school.klass.id)
    assert not services.is_class_manager(school.student.id, school.klass.id)
    assert not services.is_blocked(school.student.id, school.klass.id)
    with pytest.raises(NotFound):
        services.get_meeting(record.id + 1000)


def test_sign_out_user_ends_every_session(school, login):
    student = login(school.student)
    assert student.get("/api/auth/me").status_code == 200
    with services.unit_of_work():
        services.sign_out_user(school.student.id, reason="test")
    assert student.get("/api/auth/me").status_code == 401


class _JobPlugin:
    """A plugin with one job; the job notes that it ran and what it saw committed."""

    def __init__(self) -> None:
        import threading

        self.ran = threading.Event()
        self.saw: list[str] = []

    @hookimpl
    def register_periodic_jobs(self, register):
        register(PeriodicJob("facade-test-job", 3600, self.run))

    def run(self) -> None:
        self.saw.append(
            db.session.execute(db.text("select name from users order by id")).scalars().first()
        )
        self.ran.set()


def test_enqueued_job_runs_after_the_commit_and_sees_it(database_url, tmp_path, make_user):
    import fake_backend
    from portal_testing import make_app, wipe_database

    plugin = _JobPlugin()
    app = make_app(database_url, tmp_path, EXTRA_PLUGINS=[fake_backend, plugin])
    try:
        with app.app_context():
            user_id = make_user("student").id
            with services.unit_of_work():
                _rename(user_id, "Committed first")
                services.enqueue_job("facade-test-job")
                assert not plugin.ran.is_set()  # queued, not run, inside the unit of work
            assert plugin.ran.wait(30), "the enqueued job never ran"
            assert plugin.saw == ["Committed first"]
            with pytest.raises(NotFound):
                services.enqueue_job("no-such-job")
    finally:
        wipe_database(app)
