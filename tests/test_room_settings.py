"""Per-class room settings: chosen per class with the site's defaults, checked, handed to
the backend in the meeting spec, and "Allow chat" enforced by the portal's own chat."""

from __future__ import annotations

import pytest
from fake_backend import FAKE

ALL_DEFAULTS = {
    "mute_on_entry": False,
    "cameras_teachers_only": False,
    "screen_share": "everyone",
    "chat": True,
    "private_chat": True,
    "record": False,
}


def test_a_class_starts_with_the_site_defaults_and_keeps_its_own_choices(school, login):
    admin, teacher = login(school.admin), login(school.teacher)
    assert teacher.get(f"/api/classes/{school.klass.id}").get_json()["room"] == ALL_DEFAULTS
    changed = admin.patch("/api/admin/settings", json={"room_defaults": {"mute_on_entry": True}})
    assert changed.status_code == 200
    assert changed.get_json()["room_defaults"]["mute_on_entry"] is True
    room = teacher.get(f"/api/classes/{school.klass.id}").get_json()["room"]
    assert room == {**ALL_DEFAULTS, "mute_on_entry": True}
    mine = teacher.patch(
        f"/api/classes/{school.klass.id}",
        json={"room_settings": {"mute_on_entry": False, "screen_share": "teachers"}},
    )
    assert mine.status_code == 200
    assert mine.get_json()["room"] == {**ALL_DEFAULTS, "screen_share": "teachers"}
    # A later change of the site default does not override what the class chose.
    admin.patch("/api/admin/settings", json={"room_defaults": {"mute_on_entry": True}})
    room = teacher.get(f"/api/classes/{school.klass.id}").get_json()["room"]
    assert room["mute_on_entry"] is False


@pytest.mark.parametrize(
    "settings",
    [{"screen_share": "nobody"}, {"chat": "yes please"}, {"webcams": True}],
)
def test_bad_room_settings_are_refused(school, login, settings):
    answer = login(school.teacher).patch(
        f"/api/classes/{school.klass.id}", json={"room_settings": settings}
    )
    assert answer.status_code == 400
    assert set(answer.get_json()["error"]) >= {"code", "message"}


def test_the_backend_receives_the_room_settings(school, login):
    teacher = login(school.teacher)
    teacher.patch(
        f"/api/classes/{school.klass.id}",
        json={"room_settings": {"cameras_teachers_only": True, "private_chat": False}},
    )
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    _, spec = FAKE.created[0]
    assert spec.room.cameras_teachers_only is True
    assert spec.room.private_chat is False
    assert spec.room.chat is True


def test_chat_turned_off_refuses_students_not_teachers(school, login):
    teacher, student = login(school.teacher), login(school.student)
    teacher.patch(f"/api/classes/{school.klass.id}", json={"room_settings": {"chat": False}})
    sid = school.schedule.id
    refused = student.post(f"/api/schedules/{sid}/chat", json={"body": "hi"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "chat_off"
    assert (
        teacher.post(f"/api/schedules/{sid}/chat", json={"body": "announcement"}).status_code == 201
    )
