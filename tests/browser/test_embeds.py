"""Embedded meetings in the class room: the Jitsi IFrame API and an SFU plugin's player."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from embed_stub import EmbedStub
from playwright.sync_api import expect

from portal.core.models import BackendConfig, Class
from portal.extensions import db

pytestmark = pytest.mark.browser


@pytest.fixture
def live_plugins():
    return [EmbedStub()]


def use_backend(live_server, class_id: int, mode: str) -> None:
    with live_server.app.app_context():
        config = BackendConfig(
            name=f"Embedded {mode}", backend="embedstub", enabled=True, settings={"mode": mode}
        )
        db.session.add(config)
        db.session.flush()
        db.session.get(Class, class_id).backend_config_id = config.id
        db.session.commit()


def test_jitsi_rooms_are_embedded_with_the_iframe_api(live_server, new_context, sign_in):
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, sid = live_server.class_with(
        teacher, [student], title="Music", starts_in=timedelta(minutes=1)
    )
    use_backend(live_server, class_id, "jitsi")

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{sid}")
    teacher_page.get_by_role("button", name="Start the class").click()
    expect(teacher_page.locator("#embed #fake-jitsi")).to_contain_text("on meet.example")

    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{sid}")
    expect(student_page.locator("#embed #fake-jitsi")).to_be_visible()
    calls = student_page.evaluate("window.__jitsiCalls")
    assert len(calls) == 1
    assert calls[0]["domain"] == "meet.example" and calls[0]["jwt"] == f"token-for-{student.id}"
    assert calls[0]["roomName"].startswith(f"portal-{class_id}-{sid}-")
    assert calls[0]["config"] == {"prejoinPageEnabled": False}
    expect(student_page.get_by_role("link", name="Open the class in a new tab")).to_be_hidden()


def test_the_bundled_sfu_gets_its_room_element_and_scripts(live_server, new_context, sign_in):
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, sid = live_server.class_with(
        teacher, [student], title="Drama", starts_in=timedelta(minutes=1)
    )
    use_backend(live_server, class_id, "sfu")

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{sid}")
    teacher_page.get_by_role("button", name="Start the class").click()
    room = teacher_page.locator("#embed #sfu-room")
    expect(
        room.get_by_role("toolbar", name="Call controls").get_by_role("button", name="Start camera")
    ).to_be_visible()
    clients = teacher_page.evaluate("window.__sfuClients")
    assert len(clients) == 1 and clients[0]["iceServers"] == 1
    assert re.fullmatch(r"/sfu/rooms/.+/whip", clients[0]["whipUrl"])

    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{sid}")
    room = student_page.locator("#embed #sfu-room")
    expect(room.locator(".sfu-remote")).to_be_attached()
    assert re.fullmatch(
        r"/sfu/rooms/.+/whep", student_page.evaluate("window.__sfuClients[0].whepUrl")
    )
    expect(room.get_by_role("button", name="Start camera")).to_have_count(
        0
    )  # viewers without the floor cannot publish


def test_other_embeds_are_handed_to_the_plugins_script(live_server, new_context, sign_in):
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    class_id, sid = live_server.class_with(
        teacher, [student], title="Dance", starts_in=timedelta(minutes=1)
    )
    use_backend(live_server, class_id, "custom")

    teacher_page = sign_in(new_context(), teacher.email, next_path=f"/schedules/{sid}")
    teacher_page.get_by_role("button", name="Start the class").click()
    expect(teacher_page.locator("#fake-sfu")).to_contain_text("Publishing to /custom/")
    student_page = sign_in(new_context(), student.email, next_path=f"/schedules/{sid}")
    expect(student_page.locator("#fake-sfu")).to_contain_text("Watching /custom/")
