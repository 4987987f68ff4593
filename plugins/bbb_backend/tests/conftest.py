"""Fixtures for the BBB plugin (the core's fixtures come from portal_testing, registered by
the root conftest.py): a running BBB simulator, a BBB backend configuration pointing at it,
and a school whose class runs on it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from bbb_simulator import BBBSimulator

from portal.core.types import utcnow
from portal.extensions import db


@pytest.fixture
def sim():
    simulator = BBBSimulator()
    yield simulator
    simulator.close()


def bbb_settings(sim: BBBSimulator, **extra) -> dict:
    return {
        "url": sim.api_url,
        "secret": sim.secret,
        "checksum_algorithm": "sha256",
        "timeout_seconds": 2,
        **extra,
    }


@pytest.fixture
def bbb_config(app, sim):
    from portal.core.models import BackendConfig
    from portal.core.security import encrypt_secret

    settings = bbb_settings(sim)
    settings["secret"] = encrypt_secret(settings["secret"])
    config = BackendConfig(
        name="BBB", backend="bbb", enabled=True, is_default=True, settings=settings
    )
    db.session.add(config)
    db.session.commit()
    return config


@pytest.fixture
def callbacks_to_portal(sim, client):
    """BBB's callbacks reach the portal through the Flask test client (path + query kept)."""

    def sink(callback) -> int:
        parts = urlsplit(callback.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if callback.method == "GET":
            response = client.get(target, headers=callback.headers)
        elif callback.json is not None:
            response = client.post(target, json=callback.json, headers=callback.headers)
        else:
            response = client.post(target, data=callback.data, headers=callback.headers)
        return response.status_code

    sim.callback_sink = sink
    return sim


@pytest.fixture
def school(app, make_user, bbb_config):
    """A recorded class on BBB starting in 5 minutes: a teacher and two students."""
    from portal.core import classes

    teacher = make_user("teacher", name="Ada Teacher")
    student = make_user("student", name="Sam Student")
    classmate = make_user("student", name="Cleo Classmate")
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title="Physics",
            starts_at=utcnow() + timedelta(minutes=5),
            duration_minutes=60,
            timezone="Europe/Paris",
            record=True,
        ),
    )
    classes.enrol(teacher, klass.id, [student.id, classmate.id])
    db.session.commit()
    schedule = classes.list_schedules(teacher, klass.id)[0]
    return type(
        "School",
        (),
        dict(
            teacher=teacher,
            student=student,
            classmate=classmate,
            klass=klass,
            schedule=schedule,
            config=bbb_config,
        ),
    )
