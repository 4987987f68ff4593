"""Celery tasks belong to the Flask app that made them, even with several apps in one
process (the test suite, a command that builds a second app)."""

from __future__ import annotations

import warnings

from flask import current_app
from portal_testing import make_app

from portal import tasks
from portal.plugins import PeriodicJob, hookimpl


class SchoolJob:
    """A plugin whose periodic job records which app ran it."""

    __name__ = "school_job_plugin"

    def __init__(self) -> None:
        self.ran_in: list[str] = []

    @hookimpl
    def register_periodic_jobs(self, register):
        register(
            PeriodicJob(
                "school-job", 60, lambda: self.ran_in.append(current_app.config["SCHOOL_NAME"])
            )
        )


def test_a_second_app_registers_and_runs_its_own_tasks(database_url, tmp_path):
    first = make_app(database_url, tmp_path / "first", SCHOOL_NAME="First School")
    tasks.celery_of(first).tasks  # noqa: B018  (finalised, as a worker does)
    plugin = SchoolJob()
    second = make_app(
        database_url, tmp_path / "second", SCHOOL_NAME="Second School", EXTRA_PLUGINS=[plugin]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registered = tasks.celery_of(second).tasks
    # Celery shares tasks between apps unless told not to; the second app's own definitions
    # were then dropped as duplicates, and a retry scheduled from the first app's closure
    # would go to the first app's broker.
    assert [str(w.message) for w in caught if "already registered" in str(w.message)] == []

    registered["portal.periodic"].apply(args=("school-job",)).get(timeout=30)
    assert plugin.ran_in == ["Second School"]
