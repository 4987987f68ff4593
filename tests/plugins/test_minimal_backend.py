"""A stranger's meeting backend (tests/plugins/minimal_backend, only portal.plugins) runs a
class start, joins and end through the portal's API like the bundled ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "minimal_backend"))

import portal_minimal_backend  # noqa: E402
from portal_testing import make_app, wipe_database  # noqa: E402

from portal.core.models import Attendance, Meeting  # noqa: E402  (the test reads the rows; the plugin never does)
from portal.extensions import db  # noqa: E402

SECRET = "room-secret-123"


@pytest.fixture
def app(database_url, tmp_path):
    import fake_backend

    application = make_app(
        database_url, tmp_path, EXTRA_PLUGINS=[fake_backend, portal_minimal_backend]
    )
    ctx = application.app_context()
    ctx.push()
    portal_minimal_backend.BACKEND.ended.clear()
    yield application
    db.session.remove()
    ctx.pop()
    wipe_database(application)


def test_third_party_backend_starts_joins_and_ends_a_class(school, login, client):
    admin, teacher, student = login(school.admin), login(school.teacher), login(school.student)
    made = admin.post(
        "/api/admin/backends",
        json={
            "name": "Rooms",
            "backend": "minimal",
            "is_default": True,
            "settings": {"callback_secret": SECRET},
        },
    )
    assert made.status_code in (200, 201), made.get_json()
    sid = school.schedule.id

    started = teacher.post(f"/api/schedules/{sid}/start")
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["join"]["url"].startswith("https://rooms.example/portal-")
    assert "as=teacher&role=moderator" in started.get_json()["join"]["url"]

    joined = student.post(f"/api/schedules/{sid}/join")
    assert joined.status_code == 200
    assert f"user={school.student.id}&as=student&role=viewer" in joined.get_json()["url"]

    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    assert meeting.backend == "minimal"
    assert meeting.data["joins"] == 2  # participant_joined, through services.update_meeting_data

    room = meeting.backend_meeting_id
    forged = client.post(
        "/plugins/minimal/events",
        json={"room": room, "event": "closed"},
        headers={"X-Room-Secret": "guess-guess"},
    )
    assert forged.status_code == 401
    assert forged.get_json()["error"]["code"] == "bad_secret"

    left = client.post(
        "/plugins/minimal/events",
        headers={"X-Room-Secret": SECRET},
        json={
            "room": room,
            "event": "left",
            "user_id": school.student.id,
            "name": school.student.name,
        },
    )
    assert left.status_code == 200
    db.session.expire_all()
    row = db.session.execute(
        db.select(Attendance).filter_by(user_id=school.student.id)
    ).scalar_one()
    assert row.left_at is not None

    closed = client.post(
        "/plugins/minimal/events",
        json={"room": room, "event": "closed"},
        headers={"X-Room-Secret": SECRET},
    )
    assert closed.get_json() == {"ended": True}
    again = client.post(
        "/plugins/minimal/events",
        json={"room": room, "event": "closed"},
        headers={"X-Room-Secret": SECRET},
    )
    assert again.get_json() == {"ended": False}
    assert student.post(f"/api/schedules/{sid}/join").get_json()["error"]["code"] == "class_ended"
