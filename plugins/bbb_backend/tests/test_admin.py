"""Admins configure BBB endpoints through the portal API and test the connection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bbb_simulator import BBBSimulator
from portal_bbb_backend.backend import presentation_xml
from portal_testing import free_port

from portal.core.models import Meeting, Recording
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import SlideRef


@pytest.fixture
def admin(make_user, login):
    return login(make_user("admin"))


def _create(admin, sim, **settings):
    body = {
        "name": settings.pop("name", "BBB main"),
        "backend": "bbb",
        "settings": {"url": sim.api_url, "secret": sim.secret, **settings},
    }
    response = admin.post("/api/admin/backends", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_backend_type_declares_its_settings_and_hides_the_secret(admin):
    types = {t["name"]: t for t in admin.get("/api/admin/backend-types").get_json()}
    bbb = types["bbb"]
    assert bbb["label"] == "BigBlueButton"
    assert (
        bbb["capabilities"]["recording"]
        and bbb["capabilities"]["slides"]
        and bbb["capabilities"]["end"]
    )
    props = bbb["settings_schema"]["properties"]
    assert props["secret"]["writeOnly"] is True
    assert props["checksum_algorithm"]["default"] == "sha256"
    assert set(props["checksum_algorithm"]["enum"]) == {"sha1", "sha256", "sha384", "sha512"}
    for key in (
        "record",
        "autoStartRecording",
        "allowStartStopRecording",
        "muteOnStart",
        "lockSettingsDisableCam",
        "guestPolicy",
        "meetingLayout",
        "welcome",
        "maxParticipants",
        "duration",
        "logoutURL",
    ):
        assert key in props


def test_configure_and_test_connection(admin, sim):
    config = _create(admin, sim)
    assert config["settings"]["secret"] != sim.secret
    assert config["settings"]["secret"].startswith("••••")
    assert sim.secret not in str(admin.get(f"/api/admin/backends/{config['id']}").get_json())
    result = admin.post(f"/api/admin/backends/{config['id']}/test").get_json()
    assert result["ok"] is True
    assert result["version"] == "3.0.4"
    assert admin.get(f"/api/admin/backends/{config['id']}").get_json()["health_ok"] is True


def test_test_connection_reports_a_wrong_secret(admin, sim):
    config = _create(admin, sim, secret="definitely-not-the-secret")
    result = admin.post(f"/api/admin/backends/{config['id']}/test").get_json()
    assert result["ok"] is False
    assert "wrong shared secret" in result["message"] and "checksumError" in result["message"]
    assert result["version"] == "3.0.4"  # the server itself answered


def test_test_connection_reports_an_algorithm_the_server_refuses(admin, sim):
    sim.supported = ("sha512",)
    config = _create(admin, sim, checksum_algorithm="sha1")
    assert (
        "checksumError"
        in admin.post(f"/api/admin/backends/{config['id']}/test").get_json()["message"]
    )
    admin.patch(
        f"/api/admin/backends/{config['id']}",
        json={"settings": {"url": sim.api_url, "checksum_algorithm": "sha512"}},
    )  # the secret is kept when omitted
    assert admin.post(f"/api/admin/backends/{config['id']}/test").get_json()["ok"] is True


def test_test_connection_reports_unreachable_and_not_bbb(admin, sim):
    port = free_port()  # nobody listens on it
    down = admin.post(
        "/api/admin/backends",
        json={
            "name": "down",
            "backend": "bbb",
            "settings": {
                "url": f"http://127.0.0.1:{port}/bigbluebutton/api/",
                "secret": "whatever-secret",
            },
        },
    ).get_json()
    result = admin.post(f"/api/admin/backends/{down['id']}/test").get_json()
    assert result["ok"] is False and "unreachable" in result["message"]

    config = _create(admin, sim)
    sim.garbage = True
    result = admin.post(f"/api/admin/backends/{config['id']}/test").get_json()
    assert result["ok"] is False and "not a BigBlueButton API" in result["message"]


def test_invalid_settings_are_refused(admin, sim):
    response = admin.post(
        "/api/admin/backends",
        json={
            "name": "x",
            "backend": "bbb",
            "settings": {"url": sim.api_url, "secret": sim.secret, "checksum_algorithm": "md5"},
        },
    )
    assert response.status_code == 400
    response = admin.post(
        "/api/admin/backends", json={"name": "x", "backend": "bbb", "settings": {"url": "ftp://x"}}
    )
    assert response.status_code == 400


def test_default_create_parameters_are_sent(school, login, sim):
    school.config.settings = {
        **school.config.settings,
        "muteOnStart": True,
        "guestPolicy": "ASK_MODERATOR",
        "maxParticipants": 30,
        "welcome": "Welcome to %%CONFNAME%%",
        "lockSettingsDisablePrivateChat": True,
        "extra_create_params": {"bannerText": "Exam week", "meetingID": "hijack"},
    }
    db.session.commit()
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    params = sim.calls("create")[0].params
    assert params["muteOnStart"] == "true"
    assert params["guestPolicy"] == "ASK_MODERATOR"
    assert params["maxParticipants"] == "30"
    assert params["welcome"] == "Welcome to %%CONFNAME%%"
    assert params["lockSettingsDisablePrivateChat"] == "true"
    assert params["bannerText"] == "Exam week"
    assert params["meetingID"].startswith("portal-")  # extra parameters cannot override ours
    assert params["logoutURL"].endswith(f"/classes/{school.klass.id}")


def test_recording_disabled_on_the_server_config_wins(school, login, sim):
    school.config.settings = {**school.config.settings, "record": False}
    db.session.commit()
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    params = sim.calls("create")[0].params
    assert params["record"] == "false"
    assert "autoStartRecording" not in params


def test_two_bbb_configs_each_with_its_own_secret(
    school, login, make_user, callbacks_to_portal, client
):
    """A class on the second config (e.g. a department's Scalelite) uses its URL and secret,
    and its recording callback verifies with that secret."""
    from portal.core import classes
    from portal.core.models import BackendConfig
    from portal.core.security import encrypt_secret

    other = BBBSimulator(secret="second-department-secret-0123456789abcdef")
    try:
        config = BackendConfig(
            name="BBB Science",
            backend="bbb",
            enabled=True,
            settings={
                "url": other.api_url,
                "secret": encrypt_secret(other.secret),
                "timeout_seconds": 2,
            },
        )
        db.session.add(config)
        db.session.commit()
        klass = classes.create_class(
            school.teacher,
            classes.ClassInput(
                title="Chemistry",
                starts_at=utcnow() + timedelta(minutes=1),
                duration_minutes=30,
                backend_config_id=config.id,
                record=True,
            ),
        )
        classes.enrol(school.teacher, klass.id, [school.student.id])
        db.session.commit()
        sid = classes.list_schedules(school.teacher, klass.id)[0].id
        teacher = login(school.teacher)
        assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
        assert other.create_count == 1 and callbacks_to_portal.create_count == 0
        teacher.post(f"/api/schedules/{sid}/end")
        [record_id] = other.finish_recordings(callback=False)
        meeting = db.session.execute(db.select(Meeting).filter_by(schedule_id=sid)).scalar_one()
        signed_by_first = callbacks_to_portal.signed_parameters(
            meeting.backend_meeting_id, record_id
        )
        assert (
            client.post(
                "/plugins/bbb/recording-ready", data={"signed_parameters": signed_by_first}
            ).status_code
            == 401
        )
        signed = other.signed_parameters(meeting.backend_meeting_id, record_id)
        assert (
            client.post(
                "/plugins/bbb/recording-ready", data={"signed_parameters": signed}
            ).status_code
            == 200
        )
        assert db.session.execute(db.select(Recording.backend_config_id)).scalar_one() == config.id
    finally:
        other.close()


def _slide(name: str, data: bytes, url: str | None) -> SlideRef:
    return SlideRef(filename=name, size_bytes=len(data), url=url, read=lambda: data)


@pytest.mark.parametrize(
    "url,inline",
    [
        ("https://files.school.example/s.pdf", False),
        ("http://files.school.example/s.pdf", True),
        ("https://localhost/s.pdf", True),
        ("https://127.0.0.1:8443/s.pdf", True),
        (None, True),
    ],
)
def test_bbb_only_gets_links_it_can_download(url, inline):
    body, report = presentation_xml([_slide("s.pdf", b"%PDF", url)])
    assert (report["inline"] == ["s.pdf"]) is inline
    assert (b"url=" in body) is not inline


def test_inline_slides_stay_within_the_post_limit():
    big = b"x" * (1024 * 1024)
    body, report = presentation_xml(
        [_slide("a.pdf", big, None), _slide("b.pdf", big, None), _slide("c.pdf", b"small", None)]
    )
    assert report["inline"] == ["a.pdf", "c.pdf"]
    assert report["skipped"] == ["b.pdf"]
    assert len(body) <= 2 * 1024 * 1024


def test_cli_adds_a_bbb_endpoint_and_syncs(app, make_user, sim):
    from portal_bbb_backend import bbb_group

    from portal.core.models import BackendConfig

    admin_user = make_user("admin")
    runner = app.test_cli_runner()
    result = runner.invoke(
        bbb_group,
        [
            "add",
            "--name",
            "Scalelite",
            "--url",
            sim.api_url,
            "--secret",
            sim.secret,
            "--default",
            "--admin",
            admin_user.email,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "test: OK" in result.output
    config = db.session.execute(db.select(BackendConfig).filter_by(name="Scalelite")).scalar_one()
    assert config.backend == "bbb" and config.is_default and config.health_ok
    assert config.settings["secret"] != sim.secret  # stored encrypted

    refused = runner.invoke(
        bbb_group,
        [
            "add",
            "--name",
            "X",
            "--url",
            sim.api_url,
            "--secret",
            sim.secret,
            "--admin",
            make_user("teacher").email,
        ],
    )
    assert refused.exit_code != 0 and "not an admin" in refused.output

    synced = runner.invoke(bbb_group, ["sync"])
    assert synced.exit_code == 0 and "recordings_created=0" in synced.output


def test_room_settings_of_the_class_become_create_parameters(school, login, sim):
    teacher = login(school.teacher)
    changed = teacher.patch(
        f"/api/classes/{school.klass.id}",
        json={
            "record": True,
            "room_settings": {
                "mute_on_entry": True,
                "cameras_teachers_only": True,
                "chat": False,
                "private_chat": False,
            },
        },
    )
    assert changed.status_code == 200, changed.get_json()
    teacher.post(f"/api/schedules/{school.schedule.id}/start")
    params = sim.calls("create")[0].params
    assert params["muteOnStart"] == "true"
    assert params["lockSettingsDisableCam"] == "true"
    assert params["lockSettingsDisablePublicChat"] == "true"
    assert params["lockSettingsDisablePrivateChat"] == "true"
    assert params["lockSettingsLockOnJoin"] == "true"
    assert params["record"] == "true"


def test_room_settings_left_off_keep_the_server_defaults(school, login, sim):
    school.config.settings = {**school.config.settings, "lockSettingsDisablePrivateChat": True}
    db.session.commit()
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    params = sim.calls("create")[0].params
    assert params["lockSettingsDisablePrivateChat"] == "true"
    assert params.get("lockSettingsDisableCam", "false") == "false"
    assert params.get("muteOnStart", "false") == "false"
