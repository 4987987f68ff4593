"""Through the portal API: a teacher starts a Jitsi class, a student joins, the class ends."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from jitsi_fakes import FakeJitsiServer
from jitsi_prosody_verifier import ProsodyConfig, TokenRejected, admit
from jitsi_testkit import APP_SECRET, rsa_pair, self_hosted_settings, use_jitsi

from portal.core.models import Meeting
from portal.extensions import db

PROSODY = ProsodyConfig(
    algorithm="HS256", key=APP_SECRET, accepted_issuers=["portal"], accepted_audiences=["jitsi"]
)


def test_teacher_starts_and_student_joins_with_embed_data(jitsi_school, login):
    school = jitsi_school
    teacher, student = login(school.teacher), login(school.student)
    sid = school.schedule.id

    started = teacher.post(f"/api/schedules/{sid}/start")
    assert started.status_code == 200, started.get_json()
    join = started.get_json()["join"]
    assert join["kind"] == "embed"
    embed = join["embed"]
    room = embed["roomName"]
    assert embed["domain"] == "meet.school.test"
    assert embed["external_api_url"] == "https://meet.school.test/external_api.js"
    assert embed["configOverwrite"]["startWithAudioMuted"] is True
    assert embed["configOverwrite"]["prejoinConfig"] == {"enabled": True}
    assert embed["userInfo"] == {"displayName": school.teacher.name, "email": school.teacher.email}
    url = urlparse(join["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "meet.school.test", f"/{room}")
    assert parse_qs(url.query)["jwt"] == [embed["jwt"]]
    assert "config.startWithAudioMuted=true" in url.fragment
    address = f"{room}@conference.meet.school.test"
    teacher_claims = admit(embed["jwt"], PROSODY, address, may_moderate=True)
    assert teacher_claims["context"]["user"]["id"] == str(school.teacher.id)

    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    assert meeting.backend == "jitsi" and meeting.backend_meeting_id == room
    assert room.startswith("algebra-") and f"-{school.schedule.id}-" not in room  # no ids leak

    joined = student.post(f"/api/schedules/{sid}/join")
    assert joined.status_code == 200
    student_embed = joined.get_json()["embed"]
    assert student_embed["roomName"] == room  # same room for everyone in the occurrence
    claims = admit(student_embed["jwt"], PROSODY, address, may_moderate=False)
    assert claims["context"]["user"] == {
        "id": str(school.student.id),
        "name": school.student.name,
        "email": school.student.email,
        "moderator": False,
        "affiliation": "member",
    }
    # The student's token is useless for moderating or for another class's room.
    try:
        admit(
            student_embed["jwt"],
            PROSODY,
            "other-room@conference.meet.school.test",
            may_moderate=False,
        )
        raise AssertionError("a token for one room must not open another")
    except TokenRejected:
        pass

    state = student.get(f"/api/schedules/{sid}/meeting").get_json()
    assert state["backend"]["name"] == "jitsi"
    caps = state["backend"]["capabilities"]
    assert caps["embed"] is True and caps["slides"] is False and caps["end"] is False

    ended = teacher.post(f"/api/schedules/{sid}/end")
    assert ended.status_code == 200 and ended.get_json()["state"] == "ended"
    # No new tokens once the class has ended.
    refused = student.post(f"/api/schedules/{sid}/join")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "class_ended"


def _end_class_through_the_module(school, login, jitsi, *, address_domain: str) -> dict:
    teacher = login(school.teacher)
    sid = school.schedule.id
    room = teacher.post(f"/api/schedules/{sid}/start").get_json()["join"]["embed"]["roomName"]
    address = f"{room.rsplit('/', 1)[-1]}@{address_domain}"
    jitsi.rooms.add(address)
    assert teacher.post(f"/api/schedules/{sid}/end").status_code == 200
    assert [r["conference"] for r in jitsi.end_requests] == [address]
    assert jitsi.rooms == set()  # the fake prosody accepted the system token and destroyed the room
    return jitsi.end_requests[0]


def test_ending_the_class_destroys_the_room_on_an_app_secret_host(school, login):
    """A self-hosted (app_secret) host verifies the system token as it verifies login
    tokens: HS256 with app_secret. Setting end_meeting_url is all it takes."""
    with FakeJitsiServer(end_meeting_config=PROSODY) as jitsi:
        use_jitsi(school, self_hosted_settings(end_meeting_url=f"{jitsi.base_url}/end-meeting"))
        request = _end_class_through_the_module(
            school, login, jitsi, address_domain="conference.meet.school.test"
        )
    assert request["kid"] == "portal"  # app_id unless end_meeting_kid is set


def test_ending_the_class_with_a_dedicated_rs256_key_pair(school, login, system_keys):
    private, public = system_keys
    prosody = ProsodyConfig(
        algorithm="RS256", key=public, accepted_issuers=["portal"], accepted_audiences=["jitsi"]
    )
    with FakeJitsiServer(end_meeting_config=prosody) as jitsi:
        use_jitsi(
            school,
            self_hosted_settings(
                end_meeting_url=f"{jitsi.base_url}/end-meeting",
                end_meeting_algorithm="RS256",
                end_meeting_kid="portal/system-1",
                end_meeting_private_key=private,
            ),
        )
        request = _end_class_through_the_module(
            school, login, jitsi, address_domain="conference.meet.school.test"
        )
    assert request["kid"] == "portal/system-1"


def test_ending_a_jaas_class_signs_with_the_jaas_key(school, login, jaas_keys):
    from jitsi_testkit import JAAS_APP_ID, jaas_settings

    private, public = jaas_keys
    prosody = ProsodyConfig(
        algorithm="RS256", key=public, accepted_issuers=["chat"], accepted_audiences=["jitsi"]
    )
    with FakeJitsiServer(end_meeting_config=prosody) as jitsi:
        use_jitsi(
            school,
            jaas_settings(
                private,
                end_meeting_url=f"{jitsi.base_url}/end-meeting",
                muc_domain="conference.8x8.vc",
            ),
            name="JaaS",
        )
        request = _end_class_through_the_module(
            school, login, jitsi, address_domain="conference.8x8.vc"
        )
    assert request["kid"] == f"{JAAS_APP_ID}/key-1"


def test_a_rejected_system_token_does_not_keep_the_class_running(school, login, system_keys):
    private, _ = system_keys
    _, other_public = rsa_pair()
    prosody = ProsodyConfig(algorithm="RS256", key=other_public, accepted_issuers=["portal"])
    with FakeJitsiServer(end_meeting_config=prosody) as jitsi:
        use_jitsi(
            school,
            self_hosted_settings(
                end_meeting_url=f"{jitsi.base_url}/end-meeting",
                end_meeting_algorithm="RS256",
                end_meeting_kid="k",
                end_meeting_private_key=private,
            ),
        )
        teacher = login(school.teacher)
        sid = school.schedule.id
        teacher.post(f"/api/schedules/{sid}/start")
        ended = teacher.post(f"/api/schedules/{sid}/end")
        assert ended.status_code == 200 and ended.get_json()["state"] == "ended"
        assert len(jitsi.end_requests) == 1  # tried, refused (401), logged


def test_settings_are_validated_and_secrets_masked(school, login):
    admin = login(school.admin)
    missing_secret = admin.post(
        "/api/admin/backends",
        json={
            "name": "Jitsi",
            "backend": "jitsi",
            "settings": {"domain": "meet.school.test", "app_id": "portal"},
        },
    )
    assert missing_secret.status_code == 400
    assert "app_secret" in missing_secret.get_json()["error"]["message"]
    jaas_without_key = admin.post(
        "/api/admin/backends",
        json={
            "name": "JaaS",
            "backend": "jitsi",
            "settings": {"domain": "8x8.vc", "mode": "jaas", "app_id": "vpaas-magic-cookie-x"},
        },
    )
    assert jaas_without_key.status_code == 400
    created = admin.post(
        "/api/admin/backends",
        json={"name": "Jitsi", "backend": "jitsi", "settings": self_hosted_settings()},
    )
    assert created.status_code in (200, 201), created.get_json()
    shown = created.get_json()["settings"]
    assert APP_SECRET not in str(shown) and shown["app_secret"].startswith("••••")


def test_health_check_fetches_external_api(school):
    from portal.core import backends

    with FakeJitsiServer() as jitsi:
        config = use_jitsi(school, self_hosted_settings(web_url=jitsi.base_url)).jitsi_config
        result = backends.check_health(config)
        assert result.ok, result.message
        assert "/external_api.js" in jitsi.downloads
    result = backends.check_health(config)  # server gone
    assert not result.ok and "not reachable" in result.message


def test_pages_may_embed_the_configured_jitsi(school, client, jaas_keys):
    from jitsi_testkit import jaas_settings

    use_jitsi(school, self_hosted_settings())
    use_jitsi(school, jaas_settings(jaas_keys[0]), name="JaaS")
    page = client.get("/login")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    frame_src = next(d for d in csp.split(";") if d.strip().startswith("frame-src"))
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    for directive in (frame_src, script_src):
        assert "https://meet.school.test" in directive and "https://8x8.vc" in directive
    policy = page.headers["Permissions-Policy"]
    assert 'camera=(self "https://8x8.vc" "https://meet.school.test")' in policy
    assert "microphone=(self" in policy and "display-capture=(self" in policy
    # The JSON API keeps the core's strict defaults.
    assert "8x8.vc" not in client.get("/api/openapi.json").headers.get("Permissions-Policy", "")


def test_cli_prints_the_prosody_settings_of_a_configuration(jitsi_school, app, jaas_keys):
    from portal.cli import _register_commands

    _register_commands(app)
    from jitsi_testkit import EVENTS_TOKEN, jaas_settings

    result = app.test_cli_runner().invoke(args=["jitsi", "prosody-config", "Jitsi"])
    assert result.exit_code == 0, result.output
    assert 'authentication = "token"' in result.output
    assert f'app_secret = "{APP_SECRET}"' in result.output
    assert '"token_verification"; "token_affiliation";' in result.output
    assert f'api_prefix = "{app.config["BASE_URL"].rstrip("/")}/plugins/jitsi"' in result.output
    assert f'["Authorization"] = "Bearer {EVENTS_TOKEN}"' in result.output
    assert "enable-auto-owner false" in result.output
    assert app.test_cli_runner().invoke(args=["jitsi", "prosody-config", "Nope"]).exit_code != 0
    use_jitsi(jitsi_school, jaas_settings(jaas_keys[0]), name="JaaS")
    jaas = app.test_cli_runner().invoke(args=["jitsi", "prosody-config", "JaaS"])
    assert jaas.exit_code != 0 and "JaaS" in jaas.output


def test_join_tokens_expire_after_the_class_not_three_hours_later(jitsi_school, login):
    school = jitsi_school
    join = (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").get_json()["join"]
    )
    claims = admit(
        join["embed"]["jwt"],
        PROSODY,
        f"{join['embed']['roomName']}@conference.meet.school.test",
        may_moderate=True,
    )
    assert claims["exp"] == int(school.schedule.ends_at.timestamp()) + 1800


def test_a_web_url_with_a_path_and_http_is_what_the_page_embeds(school, login):
    use_jitsi(school, self_hosted_settings(web_url="http://127.0.0.1:8000/jitsi/"))
    join = (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").get_json()["join"]
    )
    embed = join["embed"]
    assert embed["external_api_url"] == "http://127.0.0.1:8000/jitsi/external_api.js"
    # JitsiMeetExternalAPI(domain, {noSSL}) opens http://<domain>/<roomName>.
    assert (embed["domain"], embed["noSSL"]) == ("127.0.0.1:8000/jitsi", True)
    url = urlparse(join["url"])
    assert (url.scheme, url.netloc, url.path) == (
        "http",
        "127.0.0.1:8000",
        f"/jitsi/{embed['roomName']}",
    )
    # The token is still for prosody's XMPP domain, taken from `domain`.
    assert (
        admit(
            embed["jwt"],
            PROSODY,
            f"{embed['roomName']}@conference.meet.school.test",
            may_moderate=True,
        )["sub"]
        == "meet.school.test"
    )


def test_malformed_event_bodies_get_json_errors_whatever_the_accept_header(jitsi_school, client):
    """prosody's HTTP client and curl send `Accept: */*`; they get JSON, not an HTML page."""
    from jitsi_testkit import EVENTS_TOKEN, jaas_signed

    headers = {
        "Authorization": f"Bearer {EVENTS_TOKEN}",
        "Content-Type": "application/json",
        "Accept": "*/*",
    }
    for body in (b"{not json", b"[1, 2]"):
        response = client.post("/plugins/jitsi/events/occupant/joined", data=body, headers=headers)
        assert response.status_code == 400 and response.content_type == "application/json"
        assert response.get_json()["error"]["code"] == "invalid_json"
    refused = client.post(
        "/plugins/jitsi/events/occupant/joined",
        data=b"{}",
        headers={**headers, "Authorization": ""},
    )
    assert (
        refused.status_code == 401 and refused.get_json()["error"]["code"] == "invalid_events_token"
    )
    hook = client.post(
        "/plugins/jitsi/jaas/webhook",
        data=b"{oops",
        headers={**jaas_signed(b"{oops"), "Accept": "text/html"},
    )
    assert hook.status_code == 401 and hook.get_json()["error"]["code"] == "invalid_signature"


def test_mute_on_entry_of_the_class_overrides_a_server_that_starts_unmuted(school, login):
    from jitsi_testkit import use_jitsi

    use_jitsi(school, self_hosted_settings(start_audio_muted=False))
    teacher = login(school.teacher)
    sid = school.schedule.id
    unmuted = teacher.post(f"/api/schedules/{sid}/start").get_json()["join"]
    assert unmuted["embed"]["configOverwrite"]["startWithAudioMuted"] is False
    teacher.post(f"/api/schedules/{sid}/end")
    changed = teacher.patch(
        f"/api/classes/{school.klass.id}", json={"room_settings": {"mute_on_entry": True}}
    )
    assert changed.status_code == 200
    join = teacher.post(f"/api/schedules/{sid}/start").get_json()["join"]
    assert join["embed"]["configOverwrite"]["startWithAudioMuted"] is True
    assert "config.startWithAudioMuted=true" in urlparse(join["url"]).fragment
