"""Server side of the web pages: access rules, form CSRF, safe redirects, the site
settings API, and feature flags that show optional page parts only when their API exists."""

from __future__ import annotations

import re
from datetime import timedelta

import fake_backend
import pytest
from flask import Blueprint, jsonify

from portal import create_app
from portal.core import classes
from portal.core.types import utcnow
from portal.extensions import db
from portal.features import serve_features
from portal.plugins import hookimpl

PASSWORD = "correct-horse-battery"


def sign_in(client, user, next_path: str = "", **headers):
    return client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "next": next_path},
        headers=headers,
    )


def test_anonymous_pages_redirect_to_login_and_back(client, make_user):
    response = client.get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/profile")
    student = make_user("student")
    response = sign_in(client, student, next_path="/profile")
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert student.name in client.get("/profile").get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(client, make_user, target):
    response = sign_in(client, make_user("student"), next_path=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/form.html"},
    ],
)
def test_form_posts_from_another_site_are_refused_readably(client, make_user, headers):
    student = make_user("student")
    response = sign_in(client, student, Accept="text/html", **headers)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "this form was sent from another site" in body and "Traceback" not in body
    assert "access_token_cookie" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://localhost"}, {"Referer": "http://localhost/login"}, {}]
)
def test_form_posts_from_the_portal_itself_are_accepted(client, make_user, headers):
    response = sign_in(client, make_user("student"), **headers)
    assert response.status_code == 302 and "access_token_cookie" in response.headers.get(
        "Set-Cookie", ""
    )


def test_wrong_password_keeps_the_email_and_says_why(client, make_user):
    student = make_user("student")
    response = client.post("/login", data={"email": student.email, "password": "nope"})
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert "wrong email or password" in body and f'value="{student.email}"' in body


def test_role_pages_refuse_other_roles_with_a_page_not_a_trace(client, make_user):
    sign_in(client, make_user("student"))
    for path in (
        "/classes/new",
        "/admin",
        "/admin/users",
        "/admin/backends",
        "/admin/settings",
        "/admin/plugins",
    ):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 403, path
        assert "not available to your account" in response.get_data(as_text=True)


def test_class_pages_of_other_teachers_are_not_found(client, school):
    sign_in(client, school.other_teacher)
    assert (
        client.get(f"/classes/{school.klass.id}", headers={"Accept": "text/html"}).status_code
        == 404
    )
    assert (
        client.get(f"/schedules/{school.schedule.id}", headers={"Accept": "text/html"}).status_code
        == 404
    )
    assert (
        client.get(f"/classes/{school.klass.id}/edit", headers={"Accept": "text/html"}).status_code
        == 404
    )


def test_dashboard_lists_the_week_and_upcoming_classes_in_the_users_zone(client, school):
    sign_in(client, school.student)
    body = client.get("/").get_data(as_text=True)
    local = school.schedule.starts_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert "Algebra" in body and "Times are shown in Europe/Paris" in body
    # The page's language's short time (English: "9:30\u202fAM"), as everywhere on the portal.
    assert __import__("babel.dates").dates.format_time(local, "short", locale="en") in body
    assert f'href="/schedules/{school.schedule.id}"' in body


def test_room_shows_a_block_before_any_join_attempt(client, school, login):
    login(school.admin).post(
        "/api/blocks",
        json={"user_id": school.student.id, "scope": "site", "reason": "Spam in chat"},
    )
    sign_in(client, school.student)
    body = client.get(f"/schedules/{school.schedule.id}").get_data(as_text=True)
    assert "You are blocked on this portal: Spam in chat" in body
    assert 'data-blocked="yes"' in body


def test_site_settings_api_for_admins_only(school, login):
    admin, teacher = login(school.admin), login(school.teacher)
    assert teacher.get("/api/admin/settings").status_code == 403
    assert teacher.patch("/api/admin/settings", json={"school_name": "X"}).status_code == 403
    before = admin.get("/api/admin/settings").get_json()
    assert before["reminder_offsets"] == [1440, 15] and before["timezone"] == "Europe/Paris"
    bad = admin.patch("/api/admin/settings", json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 400 and "unknown time zone" in bad.get_json()["error"]["message"]
    bad = admin.patch("/api/admin/settings", json={"reminder_offsets": [99999]})
    assert bad.status_code == 400
    changed = admin.patch(
        "/api/admin/settings",
        json={
            "school_name": "  Lycée Curie ",
            "timezone": "America/Toronto",
            "reminder_offsets": [60, 1440],
            "reminder_channels": ["sms"],
        },
    )
    assert changed.status_code == 200
    assert changed.get_json() == {
        "school_name": "Lycée Curie",
        "timezone": "America/Toronto",
        "default_locale": "en",
        "reminder_offsets": [1440, 60],
        "reminder_channels": ["sms"],
        "recording_visibility": "published",
        "sign_up": "closed",
        "waiting_room": False,
        "room_defaults": {
            "mute_on_entry": False,
            "cameras_teachers_only": False,
            "screen_share": "everyone",
            "chat": True,
            "private_chat": True,
        },
    }
    assert admin.get("/api/admin/settings").get_json()["school_name"] == "Lycée Curie"


def test_new_class_form_uses_the_site_reminder_defaults(client, school, login):
    login(school.admin).patch(
        "/api/admin/settings", json={"reminder_offsets": [120], "reminder_channels": ["sms"]}
    )
    sign_in(client, school.teacher)
    body = client.get("/classes/new").get_data(as_text=True)
    assert 'name="reminder_offsets" value="120"' in body
    assert re.search(r'value="sms" checked', body) and not re.search(r'value="email" checked', body)
    assert "Fake (Fake meetings)" in body  # the enabled backend is offered


def test_optional_parts_are_hidden_when_their_api_is_absent(app, client, school):
    from portal.features import FEATURES

    # As on an app without the content/live APIs (whatever this checkout ships).
    app.extensions["portal.web.features"] = {
        **dict.fromkeys(FEATURES, False),
        "calendar_feed": None,
    }
    sign_in(client, school.teacher)
    room = client.get(f"/schedules/{school.schedule.id}").get_data(as_text=True)
    for marker in (
        "panel-chat",
        "panel-polls",
        "panel-presence",
        "panel-media",
        "panel-attendance",
    ):
        assert marker not in room
    assert "Chat and polls are not enabled" in room
    page = client.get(f"/classes/{school.klass.id}").get_data(as_text=True)
    assert 'id="slides"' not in page and 'id="recordings"' not in page
    assert "calendar feed is not available" in client.get("/profile").get_data(as_text=True)


class ContentStub:
    """Stands in for the issue 6/7 APIs and the calendar feed: only their routes matter here."""

    @hookimpl
    def register_blueprints(self, app):
        bp = Blueprint("stub_content", __name__)
        ok = lambda **_: jsonify([])  # noqa: E731
        bp.add_url_rule(
            "/api/schedules/<int:schedule_id>/chat", "chat", ok, methods=["GET", "POST"]
        )
        bp.add_url_rule(
            "/api/schedules/<int:schedule_id>/polls", "polls", ok, methods=["GET", "POST"]
        )
        bp.add_url_rule(
            "/api/schedules/<int:schedule_id>/feedback", "feedback", ok, methods=["PUT"]
        )
        bp.add_url_rule("/api/classes/<int:class_id>/slides", "slides", ok, methods=["GET", "POST"])
        bp.add_url_rule("/api/classes/<int:class_id>/recordings", "recordings", ok)
        bp.add_url_rule(
            "/api/calendar/feed/<token>.ics", "calendar_feed", lambda token: "BEGIN:VCALENDAR"
        )
        serve_features(
            bp,
            "chat",
            "chat_send",
            "polls",
            "polls_create",
            "feedback",
            "slides",
            "slides_upload",
            "recordings",
            calendar_feed=("stub_content.calendar_feed", "token"),
        )
        app.register_blueprint(bp)


@pytest.fixture
def stub_app(database_url, tmp_path):
    application = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
            "STORAGE_DIR": str(tmp_path / "files"),
            "EXTRA_PLUGINS": [fake_backend, ContentStub()],
        }
    )
    with application.app_context():
        yield application
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


def test_feature_flags_follow_what_blueprints_declare():
    """A page part is offered only when a blueprint declared that it serves the part's API."""
    from flask import Flask

    from portal.features import compute_features, serve_features

    bare = Flask("bare")
    bp = Blueprint("bare_api", __name__)
    bp.add_url_rule(
        "/api/schedules/<int:schedule_id>/chat", "chat", lambda **_: "", methods=["GET"]
    )
    bp.add_url_rule("/api/schedules/<sid>/polls", "polls", lambda **_: "", methods=["GET", "POST"])
    bp.add_url_rule("/feeds/<path:token>.ics", "feed", lambda **_: "")
    serve_features(bp, "chat", "polls", "polls_create", calendar_feed=("feed", "token"))
    bare.register_blueprint(bp)
    flags = compute_features(bare)
    assert flags["chat"] and not flags["chat_send"]  # only what was declared
    assert flags["polls"] and flags["polls_create"]
    assert not flags["slides"] and not flags["feedback"]
    assert flags["calendar_feed"] == ("feed", "token")
    with pytest.raises(ValueError, match="unknown page features"):
        serve_features(bp, "no_such_part")


def test_optional_parts_appear_when_their_api_is_served(stub_app):
    from portal.core import users

    teacher = users.create_user(
        None, email="t@tests.school", name="T", role="teacher", password=PASSWORD
    )
    student = users.create_user(
        None, email="s@tests.school", name="S", role="student", password=PASSWORD
    )
    klass = classes.create_class(
        teacher,
        classes.ClassInput(
            title="Art", starts_at=utcnow() + timedelta(minutes=5), duration_minutes=30
        ),
    )
    classes.enrol(teacher, klass.id, [student.id])
    db.session.commit()
    schedule = classes.list_schedules(teacher, klass.id)[0]

    client = stub_app.test_client()
    sign_in(client, teacher)
    room = client.get(f"/schedules/{schedule.id}").get_data(as_text=True)
    assert 'id="panel-chat"' in room and 'id="chat-form"' in room and "panel-chat.js" in room
    assert 'id="panel-polls"' in room and 'id="poll-form"' in room
    page = client.get(f"/classes/{klass.id}").get_data(as_text=True)
    assert 'id="slides"' in page and 'id="slide-form"' in page and 'id="recordings"' in page
    profile = client.get("/profile").get_data(as_text=True)
    assert f"/api/calendar/feed/{teacher.calendar_token}.ics" in profile

    student_client = stub_app.test_client()
    sign_in(student_client, student)
    room = student_client.get(f"/schedules/{schedule.id}").get_data(as_text=True)
    assert 'id="feedback"' in room and "poll-form" not in room
