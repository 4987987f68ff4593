"""Authorization sweep: every /api endpoint x every kind of user.

Rows are keyed by Flask endpoint name; a test fails if app.url_map has an /api endpoint
without a row, so a new endpoint cannot ship without deciding who may call it. Objects a
user may not see answer 404, never 403 or 200 (no IDOR: ids of other classes and users do
not leak). Destructive rows get a fresh object per role (`ctx.new_*`), so each role is
asked about an object that still exists.

Roles: anonymous, outsider (student of another class), blocked (enrolled, blocked from the
class), student (enrolled), other_teacher (teaches another class), teacher (owns this
class), admin, co_teacher and assistant (staff of this class, see portal/core/access.py).
A guest (portal/core/invites.py) holding a session of this class is asked every row too
and must get exactly what anonymous gets, except on the guest's own endpoints.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from content_utils import make_pdf
from fake_backend import FAKE
from portal_testing import add_fake_config, build_school, rolled_back, sign_in, user_factory

from portal.core import (
    blocking,
    chat,
    classes,
    feedback,
    media,
    polls,
    presentations,
    slides,
    staff,
)
from portal.core import clock as portal_clock
from portal.core.models import BackendConfig, Class, Notification, Recording, Schedule, User
from portal.core.types import utcnow
from portal.extensions import db

_DAY = utcnow().date()
RANGE = f"{_DAY - timedelta(days=30)}T00:00:00Z&end={_DAY + timedelta(days=60)}T00:00:00Z"
ROLES = [
    "anonymous",
    "outsider",
    "blocked",
    "student",
    "other_teacher",
    "teacher",
    "admin",
    "co_teacher",
    "assistant",
]


def codes(spec: str) -> dict[str, int]:
    values = [int(v) for v in spec.split()]
    assert len(values) == len(ROLES)
    return dict(zip(ROLES, values, strict=True))


class Ctx:
    def __init__(self, s, blocked, other_class):
        self.s, self.blocked, self.other_class = s, blocked, other_class
        self.cid, self.sid = s.klass.id, s.schedule.id

    def add_staff(self, class_id: int) -> None:
        """The co-teacher and the assistant of the sweep join this class's staff."""
        staff.add_staff(self.s.teacher, class_id, self.s.co_teacher.email, "co_teacher")
        staff.add_staff(self.s.teacher, class_id, self.s.assistant.email, "assistant")

    def new_teacher(self):
        from portal.core import users

        return users.create_user(
            None, email=f"{uuid.uuid4().hex[:10]}@tests.school", name="Aide", role="teacher"
        )

    def new_staff(self) -> int:
        user = self.new_teacher()
        staff.add_staff(self.s.teacher, self.cid, user.email, "co_teacher")
        return user.id

    def new_invite(self) -> tuple[int, str]:
        """A fresh invite link of this class: (its id, its token)."""
        from portal.core import invites

        link, token = invites.create_link(
            self.s.teacher, self.cid, expires_at=utcnow() + timedelta(hours=2)
        )
        return link.id, token

    def waiting_student(self) -> int:
        """A fresh student waiting in the lobby of the sweep's occurrence."""
        from portal.core import lobby, users

        self.s.klass.waiting_room = True
        student = users.create_user(
            None, email=f"{uuid.uuid4().hex[:10]}@tests.school", name="Waiting"
        )
        classes.enrol(self.s.teacher, self.cid, [student.id])
        lobby.knock(student, self.sid)
        return student.id

    def new_class(self) -> int:
        """A fresh class of the teacher, with the sweep's co-teacher and assistant."""
        klass = classes.create_class(
            self.s.teacher,
            classes.ClassInput(
                title="C",
                starts_at=utcnow() + timedelta(days=1),
                duration_minutes=30,
                timezone="UTC",
            ),
        )
        self.add_staff(klass.id)
        return klass.id

    def new_slide(self) -> int:
        return slides.upload_slide(self.s.teacher, self.cid, "deck.pdf", make_pdf()).id

    def new_media(self) -> int:
        return media.upload_media(self.s.classmate, self.cid, "notes.pdf", make_pdf(), None).id

    def new_recording(self) -> int:
        row = Recording(
            class_id=self.cid,
            backend="fake",
            backend_record_id=uuid.uuid4().hex,
            title="Rec",
            recorded_at=utcnow(),
            visibility="published",
            playback_url="https://fake.example/play",
        )
        db.session.add(row)
        db.session.flush()
        return row.id

    def new_export(self) -> int:
        """A data export the classmate asked for (only they and administrators see it)."""
        from portal.core.models import ExportJob

        row = ExportJob(user_id=self.s.classmate.id, requested_by=self.s.classmate.id)
        db.session.add(row)
        db.session.flush()
        return row.id

    def new_poll(self) -> int:
        return polls.create_poll(self.s.teacher, self.sid, question="Q?", options=["a", "b"])["id"]

    def open_poll(self) -> int:
        poll_id = self.new_poll()
        polls.open_poll(self.s.teacher, poll_id)
        return poll_id

    def new_message(self) -> int:
        return chat.post_message(self.s.classmate, self.sid, "hello")["id"]

    def new_feedback(self) -> int:
        self.s.schedule.starts_at = utcnow() - timedelta(hours=2)
        self.s.schedule.ends_at = utcnow() - timedelta(hours=1)
        return feedback.rate_occurrence(self.s.classmate, self.sid, 4)[0].id

    def new_student(self) -> int:
        from portal.core import users

        student = users.create_user(
            None, email=f"{uuid.uuid4().hex[:10]}@tests.school", name="Fresh"
        )
        classes.enrol(self.s.teacher, self.cid, [student.id])
        return student.id

    def present(self) -> str:
        """The blank board presented in the occurrence; its URL base for the row."""
        presentations.present(self.s.teacher, self.sid, None)
        return f"/api/schedules/{self.sid}"

    def teacher_stroke(self) -> int:
        self.present()
        stroke = {"tool": "pen", "color": "#ff0000", "width": 0.01, "points": [[0.1, 0.1]]}
        return presentations.add_stroke(self.s.teacher, self.sid, stroke)["id"]

    def undo_url(self) -> str:
        """A stroke of the teacher's to undo."""
        self.teacher_stroke()
        return f"/api/schedules/{self.sid}/strokes/undo"

    def all_slides(self) -> list[int]:
        self.new_slide()
        return [row.id for row in slides.list_slides(self.s.teacher, self.cid)]

    def failed_notification(self) -> int:
        row = Notification(
            user_id=self.s.classmate.id,
            schedule_id=self.sid,
            kind="class_started",
            key=uuid.uuid4().hex[:8],
            channel="email",
            due_at=utcnow(),
            status="failed",
            attempts=5,
            error="SMTP 451: try later",
        )
        db.session.add(row)
        db.session.flush()
        return row.id

    def new_block(self) -> int:
        return blocking.block_user(
            self.s.teacher,
            user_id=self.new_student(),
            scope="class",
            class_id=self.cid,
            reason="test",
        ).id


def _table(c: Ctx) -> dict[str, tuple]:
    s, cid, sid = c.s, c.cid, c.sid
    future = (utcnow() + timedelta(days=3)).isoformat()
    # endpoint: (method, url or callable(ctx) -> url, json body, expected statuses in the order
    # of ROLES: "anon outsider blocked student other teacher admin co_teacher assistant")
    return {
        # auth
        "api.login": (
            "POST",
            "/api/auth/login",
            lambda: {"email": f"{uuid.uuid4().hex[:8]}@x.org", "password": "x"},
            "401 401 401 401 401 401 401 401 401",
        ),
        "api.refresh": (
            "POST",
            "/api/auth/refresh",
            None,
            "401 401 401 401 401 401 401 401 401",
        ),  # needs a refresh token
        "api.me": ("GET", "/api/auth/me", None, "401 200 200 200 200 200 200 200 200"),
        "api.logout": ("POST", "/api/auth/logout", None, "401 200 200 200 200 200 200 200 200"),
        "api.change_password": (
            "POST",
            "/api/auth/password",
            {"current_password": "wrong-one", "new_password": "x" * 12},
            "401 400 400 400 400 400 400 400 400",
        ),
        "api.openapi_document": (
            "GET",
            "/api/openapi.json",
            None,
            "200 200 200 200 200 200 200 200 200",
        ),
        # accounts: the same answer for everyone; links and sign-up need no session
        "api.request_password_reset": (
            "POST",
            "/api/auth/password-reset",
            {"email": "nobody@x.org"},
            "202 202 202 202 202 202 202 202 202",
        ),
        "api.use_password_link": (
            "POST",
            "/api/auth/password-link",
            {"token": "not.a.link", "new_password": "x" * 12},
            "400 400 400 400 400 400 400 400 400",
        ),
        "api.sign_up": (
            "POST",
            "/api/auth/sign-up",
            lambda: {"email": f"{uuid.uuid4().hex[:8]}@x.org", "name": "N", "password": "x" * 12},
            "403 403 403 403 403 403 403 403 403",
        ),  # closed by default
        "api.invite": (
            "POST",
            "/api/admin/invitations",
            lambda: {"email": f"{uuid.uuid4().hex[:8]}@tests.school", "name": "N"},
            "401 403 403 403 403 403 201 403 403",
        ),
        "api.list_sign_ups": (
            "GET",
            "/api/admin/sign-ups",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.decide_sign_up": (
            "POST",
            f"/api/admin/sign-ups/{s.student.id}",
            {"approve": True},
            "401 403 403 403 403 403 409 403 403",
        ),  # not waiting for approval
        "api.import_users": (
            "POST",
            "/api/admin/users/import",
            {"csv": "email,name,role\n"},
            "401 403 403 403 403 403 200 403 403",
        ),
        # site settings: administrators only
        "api.get_site_settings": (
            "GET",
            "/api/admin/settings",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.update_site_settings": (
            "PATCH",
            "/api/admin/settings",
            {"school_name": "Renamed School"},
            "401 403 403 403 403 403 200 403 403",
        ),
        # notifications: each person sees only their own list; an unsubscribe token is the only key
        "notifications_api.my_notifications": (
            "GET",
            "/api/me/notifications",
            None,
            "401 200 200 200 200 200 200 200 200",
        ),
        "notifications_api.unsubscribe": (
            "POST",
            "/api/notifications/unsubscribe",
            {"token": "forged-token"},
            "404 404 404 404 404 404 404 404 404",
        ),
        # notification delivery: administrators only (recipients' addresses and errors)
        "notifications_api.list_deliveries": (
            "GET",
            "/api/admin/notifications?status=any",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "notifications_api.retry_delivery": (
            "POST",
            lambda: f"/api/admin/notifications/{c.failed_notification()}/retry",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        # users
        "api.list_users": ("GET", "/api/users", None, "401 403 403 403 200 200 200 200 200"),
        "api.create_user": (
            "POST",
            "/api/users",
            lambda: {"email": f"{uuid.uuid4().hex[:8]}@tests.school", "name": "N"},
            "401 403 403 403 403 403 201 403 403",
        ),
        "api.get_user": (
            "GET",
            f"/api/users/{s.classmate.id}",
            None,
            "401 404 404 404 404 200 200 200 200",
        ),
        # privacy: exports are the user's own (or an admin's); the rest is for admins
        "api.request_export": (
            "POST",
            f"/api/users/{s.classmate.id}/exports",
            {},
            "401 404 404 404 404 404 202 404 404",
        ),
        "api.get_export": (
            "GET",
            lambda: f"/api/exports/{c.new_export()}",
            None,
            "401 404 404 404 404 404 200 404 404",
        ),
        "api.erase_user": (
            "POST",
            f"/api/users/{s.classmate.id}/erasure",
            {"dry_run": True},
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.get_privacy_settings": (
            "GET",
            "/api/admin/privacy",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.update_privacy_settings": (
            "PATCH",
            "/api/admin/privacy",
            {"chat": 30},
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.set_legal_hold": (
            "PUT",
            f"/api/classes/{cid}/legal-hold",
            {"on": True},
            "401 404 403 403 404 403 200 403 403",
        ),
        "api.list_audit": ("GET", "/api/admin/audit", None, "401 403 403 403 403 403 200 403 403"),
        "api.update_user": (
            "PATCH",
            f"/api/users/{s.classmate.id}",
            {"name": "Renamed"},
            "401 404 404 404 404 404 200 404 404",
        ),
        "api.user_recordings": (
            "GET",
            f"/api/users/{s.classmate.id}/recordings",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),  # admins only
        # classes
        "api.list_classes": ("GET", "/api/classes", None, "401 200 200 200 200 200 200 200 200"),
        "api.create_class": (
            "POST",
            "/api/classes",
            {"title": "New", "starts_at": future, "duration_minutes": 30},
            "401 403 403 403 201 201 201 201 201",
        ),
        "api.get_class": (
            "GET",
            f"/api/classes/{cid}",
            None,
            "401 404 200 200 404 200 200 200 200",
        ),
        "api.update_class": (
            "PATCH",
            f"/api/classes/{cid}",
            {"title": "T2"},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.cancel_class": (
            "POST",
            lambda: f"/api/classes/{c.new_class()}/cancel",
            None,
            "401 404 404 404 404 200 200 403 403",
        ),  # only the owner and admins delete a class
        "api.list_staff": (
            "GET",
            f"/api/classes/{cid}/staff",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.add_staff": (
            "POST",
            f"/api/classes/{cid}/staff",
            lambda: {"email": c.new_teacher().email, "role": "assistant"},
            "401 404 403 403 404 201 201 403 403",
        ),  # only the owner and admins change the staff
        "api.remove_staff": (
            "DELETE",
            lambda: f"/api/classes/{cid}/staff/{c.new_staff()}",
            None,
            "401 404 403 403 404 204 204 403 403",
        ),
        # recordings being prepared: the class's teachers, co-teachers and admins only
        "api.class_recording_jobs": (
            "GET",
            f"/api/classes/{cid}/recording-jobs",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.retry_recording_job": (
            "POST",
            f"/api/schedules/{sid}/recording-job/retry",
            None,
            "401 404 403 403 404 409 409 409 403",
        ),  # nothing failed to retry
        "api.list_enrolments": (
            "GET",
            f"/api/classes/{cid}/enrolments",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.enrol": (
            "POST",
            f"/api/classes/{cid}/enrolments",
            {"user_ids": [s.outsider.id]},
            "401 404 403 403 404 201 201 201 403",
        ),
        "api.unenrol": (
            "DELETE",
            lambda: f"/api/classes/{cid}/enrolments/{c.new_student()}",
            None,
            "401 404 404 404 404 204 204 204 404",
        ),
        "api.class_schedules": (
            "GET",
            f"/api/classes/{cid}/schedules",
            None,
            "401 404 200 200 404 200 200 200 200",
        ),
        "api.change_following": (
            "POST",
            f"/api/schedules/{sid}/series",
            {"rrule": "FREQ=WEEKLY;COUNT=2"},
            "401 404 403 403 404 400 400 400 403",
        ),  # past authorization, the one-off class is not a series
        "api.update_series": (
            "PATCH",
            f"/api/classes/{cid}/series",
            {"duration_minutes": 50},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.calendar": (
            "GET",
            f"/api/schedules?start={RANGE}",
            None,
            "401 200 200 200 200 200 200 200 200",
        ),
        "api.get_schedule": (
            "GET",
            f"/api/schedules/{sid}",
            None,
            "401 404 200 200 404 200 200 200 200",
        ),
        "api.move_schedule": (
            "PATCH",
            f"/api/schedules/{sid}",
            {"starts_at": future},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.cancel_schedule": (
            "POST",
            f"/api/schedules/{sid}/cancel",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        # meetings
        "api.backend_choices": (
            "GET",
            "/api/backends",
            None,
            "401 200 200 200 200 200 200 200 200",
        ),  # names only, no settings
        "api.start": (
            "POST",
            f"/api/schedules/{sid}/start",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.join": (
            "POST",
            f"/api/schedules/{sid}/join",
            None,
            "401 404 403 409 404 409 409 409 409",
        ),
        "api.end": (
            "POST",
            f"/api/schedules/{sid}/end",
            None,
            "401 404 403 403 404 409 409 409 403",
        ),
        "api.meeting_state": (
            "GET",
            f"/api/schedules/{sid}/meeting",
            None,
            "401 404 200 200 404 200 200 200 200",
        ),
        # admin
        "api.backend_types": (
            "GET",
            "/api/admin/backend-types",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.list_backends": (
            "GET",
            "/api/admin/backends",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.create_backend": (
            "POST",
            "/api/admin/backends",
            lambda: {
                "name": uuid.uuid4().hex[:8],
                "backend": "fake",
                "settings": {"url": "https://f.example", "secret": "s3cret-value-1234"},
            },
            "401 403 403 403 403 403 201 403 403",
        ),
        "api.get_backend": (
            "GET",
            f"/api/admin/backends/{s.config.id}",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.update_backend": (
            "PATCH",
            f"/api/admin/backends/{s.config.id}",
            {"name": "Renamed"},
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.delete_backend": (
            "DELETE",
            f"/api/admin/backends/{s.config.id}",
            None,
            "401 403 403 403 403 403 204 403 403",
        ),
        "api.test_backend": (
            "POST",
            f"/api/admin/backends/{s.config.id}/test",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        "api.list_plugins": (
            "GET",
            "/api/admin/plugins",
            None,
            "401 403 403 403 403 403 200 403 403",
        ),
        # blocks
        "api.list_blocks": ("GET", "/api/blocks", None, "401 403 403 403 200 200 200 200 200"),
        "api.create_block": (
            "POST",
            "/api/blocks",
            lambda: {"user_id": c.new_student(), "scope": "class", "class_id": cid, "reason": "x"},
            "401 404 403 403 404 201 201 201 403",
        ),
        "api.lift_block": (
            "DELETE",
            lambda: f"/api/blocks/{c.new_block()}",
            None,
            "401 404 404 404 404 204 204 204 404",
        ),
        # calendar
        "api.calendar_events": (
            "GET",
            f"/api/calendar/events?start={RANGE}",
            None,
            "401 200 200 200 200 200 200 200 200",
        ),
        "api.feed_url": ("GET", "/api/calendar/feed", None, "401 200 200 200 200 200 200 200 200"),
        "api.feed": (
            "GET",
            "/api/calendar/feed/not-a-real-token.ics",
            None,
            "404 404 404 404 404 404 404 404 404",
        ),
        "api.reset_feed": (
            "POST",
            "/api/calendar/feed/reset",
            None,
            "401 200 200 200 200 200 200 200 200",
        ),
        # slides
        "api.list_slides": (
            "GET",
            f"/api/classes/{cid}/slides",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.upload_slide": (
            "POST",
            f"/api/classes/{cid}/slides",
            "FILE",
            "401 404 403 403 404 201 201 201 403",
        ),
        "api.reorder_slides": (
            "PUT",
            lambda: f"/api/classes/{cid}/slides/order",
            lambda: {"slide_ids": c.all_slides()},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.delete_slide": (
            "DELETE",
            lambda: f"/api/slides/{c.new_slide()}",
            None,
            "401 404 403 403 404 204 204 204 403",
        ),
        "api.download_slide": (
            "GET",
            lambda: f"/api/slides/{c.new_slide()}/download",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        # media
        "api.list_media": (
            "GET",
            f"/api/classes/{cid}/media",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.upload_media": (
            "POST",
            f"/api/classes/{cid}/media",
            "FILE",
            "401 404 403 201 404 201 201 201 201",
        ),
        "api.delete_media": (
            "DELETE",
            lambda: f"/api/media/{c.new_media()}",
            None,
            "401 404 403 403 404 204 204 204 403",
        ),
        "api.download_media": (
            "GET",
            lambda: f"/api/media/{c.new_media()}/download",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        # recordings
        "api.my_recordings": (
            "GET",
            "/api/recordings",
            None,
            "401 200 200 200 200 200 200 200 200",
        ),
        "api.class_recordings": (
            "GET",
            f"/api/classes/{cid}/recordings",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.get_recording": (
            "GET",
            lambda: f"/api/recordings/{c.new_recording()}",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.download_recording": (
            "GET",
            lambda: f"/api/recordings/{c.new_recording()}/download",
            None,
            "401 404 403 404 404 404 404 404 404",
        ),
        "api.publish_recording": (
            "POST",
            lambda: f"/api/recordings/{c.new_recording()}/publish",
            {"published": False},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.delete_recording": (
            "DELETE",
            lambda: f"/api/recordings/{c.new_recording()}",
            None,
            "401 404 403 403 404 204 204 204 403",
        ),
        "api.set_recording_visibility": (
            "PUT",
            lambda: f"/api/recordings/{c.new_recording()}/visibility",
            {"visibility": "members"},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.renew_recording_share_link": (
            "POST",
            lambda: f"/api/recordings/{c.new_recording()}/share-link",
            None,
            "401 404 403 403 404 201 201 201 403",
        ),
        "api.revoke_recording_share_link": (
            "DELETE",
            lambda: f"/api/recordings/{c.new_recording()}/share-link",
            None,
            "401 404 403 403 404 204 204 204 403",
        ),
        # A share link opens without signing in; an unknown one is 404 for everyone.
        "api.shared_recording": (
            "GET",
            "/api/shared-recordings/not-a-real-token",
            None,
            "404 404 404 404 404 404 404 404 404",
        ),
        "api.shared_recording_download": (
            "GET",
            "/api/shared-recordings/not-a-real-token/download",
            None,
            "404 404 404 404 404 404 404 404 404",
        ),
        "api.rate_recording": (
            "PUT",
            lambda: f"/api/recordings/{c.new_recording()}/feedback",
            {"rating": 5},
            "401 404 403 201 404 403 403 403 403",
        ),
        "api.recording_feedback_summary": (
            "GET",
            lambda: f"/api/recordings/{c.new_recording()}/feedback/summary",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        # feedback
        "api.rate_occurrence": (
            "PUT",
            f"/api/schedules/{sid}/feedback",
            {"rating": 4},
            "401 404 403 409 404 403 403 403 403",
        ),
        "api.my_occurrence_feedback": (
            "GET",
            f"/api/schedules/{sid}/feedback/mine",
            None,
            "401 404 404 404 404 404 404 404 404",
        ),  # none yet
        "api.occurrence_feedback_summary": (
            "GET",
            f"/api/schedules/{sid}/feedback/summary",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.class_feedback_summary": (
            "GET",
            f"/api/classes/{cid}/feedback/summary",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.edit_feedback": (
            "PATCH",
            lambda: f"/api/feedback/{c.new_feedback()}",
            {"comment": "edited"},
            "401 404 404 404 404 403 403 403 404",
        ),
        "api.delete_feedback": (
            "DELETE",
            lambda: f"/api/feedback/{c.new_feedback()}",
            None,
            "401 404 404 404 404 403 204 403 404",
        ),
        # attendance
        "api.attendance_report": (
            "GET",
            f"/api/schedules/{sid}/attendance",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.attendance_csv": (
            "GET",
            f"/api/schedules/{sid}/attendance.csv",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        # live
        "api.live_chat_history": (
            "GET",
            f"/api/schedules/{sid}/chat",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.live_chat_post": (
            "POST",
            f"/api/schedules/{sid}/chat",
            {"body": "hi"},
            "401 404 403 201 404 201 201 201 201",
        ),
        "api.live_chat_delete": (
            "DELETE",
            lambda: f"/api/chat/{c.new_message()}",
            None,
            "401 404 403 403 404 204 204 204 204",
        ),
        "api.live_mutes_list": (
            "GET",
            f"/api/classes/{cid}/mutes",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.live_mute": (
            "POST",
            f"/api/classes/{cid}/mutes",
            {"user_id": s.classmate.id},
            "401 404 403 403 404 204 204 204 204",
        ),
        "api.live_unmute": (
            "DELETE",
            f"/api/classes/{cid}/mutes/{s.classmate.id}",
            None,
            "401 404 403 403 404 204 204 204 204",
        ),
        "api.live_presence": (
            "GET",
            f"/api/schedules/{sid}/presence",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.live_polls_list": (
            "GET",
            f"/api/schedules/{sid}/polls",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.live_poll_create": (
            "POST",
            f"/api/schedules/{sid}/polls",
            {"question": "Q", "options": ["a", "b"]},
            "401 404 403 403 404 201 201 201 201",
        ),
        "api.live_poll_open": (
            "POST",
            lambda: f"/api/polls/{c.new_poll()}/open",
            None,
            "401 404 403 404 404 200 200 200 200",
        ),  # drafts are invisible
        "api.live_poll_close": (
            "POST",
            lambda: f"/api/polls/{c.open_poll()}/close",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.live_poll_publish": (
            "POST",
            lambda: f"/api/polls/{c.open_poll()}/publish",
            {"published": True},
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.live_poll_vote": (
            "POST",
            lambda: f"/api/polls/{c.open_poll()}/vote",
            "VOTE",
            "401 404 403 200 404 403 403 403 403",
        ),
        "api.live_poll_results": (
            "GET",
            lambda: f"/api/polls/{c.open_poll()}/results",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.live_polls_export": (
            "GET",
            f"/api/schedules/{sid}/polls/export",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.live_poll_export": (
            "GET",
            lambda: f"/api/polls/{c.new_poll()}/export",
            None,
            "401 404 403 404 404 200 200 200 200",
        ),
        # the floor: students raise hands; only the class's teachers, assistants (and admins)
        # grant, withdraw, mute
        "api.floor_state": (
            "GET",
            f"/api/schedules/{sid}/floor",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.hand_raise": (
            "POST",
            f"/api/schedules/{sid}/hands",
            None,
            "401 404 403 200 404 400 400 400 400",
        ),  # teachers have the floor
        "api.hand_lower_mine": (
            "DELETE",
            f"/api/schedules/{sid}/hands/me",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),  # idempotent
        "api.hand_lower": (
            "DELETE",
            f"/api/schedules/{sid}/hands/{s.classmate.id}",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.hands_lower_all": (
            "DELETE",
            f"/api/schedules/{sid}/hands",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.floor_grant": (
            "POST",
            f"/api/schedules/{sid}/floor/grant",
            {"user_id": s.classmate.id, "mic": True},
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.floor_withdraw": (
            "POST",
            f"/api/schedules/{sid}/floor/withdraw",
            {"user_id": s.classmate.id},
            "401 404 403 403 404 200 200 200 200",
        ),
        # the waiting room: students ask to enter; teachers and assistants admit or refuse
        "api.lobby_waiting": (
            "GET",
            f"/api/schedules/{sid}/lobby",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.lobby_knock": (
            "POST",
            f"/api/schedules/{sid}/lobby/knock",
            None,
            "401 404 403 409 404 400 400 400 400",
        ),  # this class has no waiting room; teachers never wait
        "api.lobby_admit": (
            "POST",
            lambda: f"/api/schedules/{c.waiting_student() and sid}/lobby/admit",
            {},
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.lobby_refuse": (
            "POST",
            f"/api/schedules/{sid}/lobby/refuse",
            lambda: {"user_id": c.waiting_student(), "message": "not today"},
            "401 404 403 403 404 200 200 200 200",
        ),
        # invite links: the class's owner and co-teachers; guests enter through a link
        "api.invite_create": (
            "POST",
            f"/api/classes/{cid}/invites",
            {"expires_at": future},
            "401 404 403 403 404 201 201 201 403",
        ),
        "api.invite_list": (
            "GET",
            f"/api/classes/{cid}/invites",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.invite_revoke": (
            "POST",
            lambda: f"/api/invites/{c.new_invite()[0]}/revoke",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.guest_enter": (
            "POST",
            lambda: f"/api/invite/{c.new_invite()[1]}/enter",
            {"name": "Visitor"},
            "201 201 201 201 201 201 201 201 201",
        ),  # anyone with the link may enter as a guest (and gets only a guest session)
        # a guest's own endpoints: users' logins are no guest session
        "api.guest_me": ("GET", "/api/guest/me", None, "401 401 401 401 401 401 401 401 401"),
        "api.guest_knock": (
            "POST",
            f"/api/guest/schedules/{sid}/knock",
            None,
            "401 401 401 401 401 401 401 401 401",
        ),
        "api.guest_join": (
            "POST",
            f"/api/guest/schedules/{sid}/join",
            None,
            "401 401 401 401 401 401 401 401 401",
        ),
        "api.guest_chat": (
            "POST",
            f"/api/guest/schedules/{sid}/chat",
            {"body": "hi"},
            "401 401 401 401 401 401 401 401 401",
        ),
        "api.guest_leave": (
            "POST",
            "/api/guest/leave",
            None,
            "401 401 401 401 401 401 401 401 401",
        ),
        "api.floor_mute": (
            "POST",
            f"/api/schedules/{sid}/floor/mute",
            {"user_id": s.classmate.id},
            "401 404 403 403 404 200 200 200 200",
        ),
        # slides and the whiteboard: members watch; the teacher presents and draws (students
        # only with the floor and the teacher's leave, which no one here has)
        "api.presentation_state": (
            "GET",
            f"/api/schedules/{sid}/presentation",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.presentation_present": (
            "PUT",
            f"/api/schedules/{sid}/presentation",
            {},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.presentation_turn": (
            "POST",
            lambda: c.present() + "/presentation/page",
            {"page": 1},
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.presentation_co_presenting": (
            "PUT",
            lambda: c.present() + "/presentation/co-presenting",
            {"allowed": True},
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.strokes_list": (
            "GET",
            f"/api/schedules/{sid}/strokes?page=1",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
        "api.strokes_add": (
            "POST",
            lambda: c.present() + "/strokes",
            {"tool": "pen", "color": "#ff0000", "width": 0.01, "points": [[0.5, 0.5]]},
            "401 404 403 403 404 201 201 201 201",
        ),
        "api.strokes_undo": (
            "POST",
            c.undo_url,
            None,
            "401 404 403 403 404 200 409 409 409",
        ),  # undo is of one's own strokes: the admin drew none
        "api.strokes_erase": (
            "DELETE",
            lambda: f"/api/schedules/{sid}/strokes/{c.teacher_stroke()}",
            None,
            "401 404 403 403 404 200 200 200 200",
        ),
        "api.strokes_clear": (
            "DELETE",
            lambda: c.present() + "/strokes",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.presentation_export": (
            "GET",
            lambda: c.present() + "/presentation/export",
            None,
            "401 404 403 403 404 200 200 200 403",
        ),
        "api.slide_page_image": (
            "GET",
            lambda: f"/api/slides/{c.new_slide()}/pages/1?width=300",
            None,
            "401 404 403 200 404 200 200 200 200",
        ),
    }


@pytest.mark.parametrize(
    "url",
    [
        "/api/classes",
        f"/api/schedules?start={RANGE}",
        f"/api/calendar/events?start={RANGE}",
        "/api/recordings",
        "/api/blocks",
        "/api/users",
    ],
)
def test_listings_never_show_other_classes(url, school, login):
    """Lists are filtered, not just guarded: another class's title and ids never appear."""
    from portal.core import classes as classes_service

    secret = classes_service.create_class(
        school.teacher,
        classes_service.ClassInput(
            title="Secret-Seminar-42",
            starts_at=utcnow() + timedelta(days=2),
            duration_minutes=30,
            timezone="UTC",
        ),
    )
    classes_service.enrol(school.teacher, secret.id, [school.student.id])
    db.session.commit()
    for person in (school.outsider, school.other_teacher):
        response = login(person).get(url)
        assert response.status_code in (200, 403)
        text = response.get_data(as_text=True)
        assert "Secret-Seminar-42" not in text and "Algebra" not in text
        assert school.student.email not in text


# Contact data in the user directory (GET /api/users): what each role sees of each student.
# "full": email and phone; "masked": the name and a masked email (j***@school.example), no
# phone; "-": the request is refused with the status in the first column. The outsider is a
# student of other_teacher's class; student and classmate are in teacher's class.
CONTACT_ROWS = {
    # role: "status student classmate outsider"
    "anonymous": "401 - - -",
    "outsider": "403 - - -",
    "blocked": "403 - - -",
    "student": "403 - - -",
    "other_teacher": "200 masked masked full",
    "teacher": "200 full full masked",
    "admin": "200 full full full",
}


def _outsiders_class(school):
    """other_teacher's class, with the sweep's outsider enrolled in it."""
    other_class = classes.create_class(
        school.other_teacher,
        classes.ClassInput(
            title="Other",
            starts_at=utcnow() + timedelta(days=1),
            duration_minutes=30,
            timezone="UTC",
        ),
    )
    classes.enrol(school.other_teacher, other_class.id, [school.outsider.id])
    return other_class


@pytest.fixture
def directory_school(school, make_user):
    """The sweep's school with phone numbers, and the outsider in other_teacher's class."""
    from portal.core import users

    blocked = make_user("student")
    classes.enrol(school.teacher, school.klass.id, [blocked.id])
    _outsiders_class(school)
    for n, person in enumerate((school.student, school.classmate, school.outsider)):
        users.update_profile(person, person.id, users.ProfileChanges(phone=f"+3361234567{n}"))
    db.session.commit()
    school.blocked = blocked
    return school


@pytest.mark.parametrize("role", list(CONTACT_ROWS))
def test_contact_data_only_for_the_students_one_teaches(role, directory_school, login, client):
    s = directory_school
    people = {
        "outsider": s.outsider,
        "blocked": s.blocked,
        "student": s.student,
        "other_teacher": s.other_teacher,
        "teacher": s.teacher,
        "admin": s.admin,
    }
    api = login(people[role]) if role != "anonymous" else None
    response = (api.get if api else client.get)("/api/users?role=student&limit=200")
    status, *expected = CONTACT_ROWS[role].split()
    assert response.status_code == int(status), response.get_json()
    if response.status_code != 200:
        return
    text = response.get_data(as_text=True)
    items = {item["id"]: item for item in response.get_json()["items"]}
    for person, seen in zip((s.student, s.classmate, s.outsider), expected, strict=True):
        item = items[person.id]
        assert item["name"] == person.name
        if seen == "full":
            assert (item["email"], item["phone"]) == (person.email, person.phone), (
                role,
                person.name,
            )
        else:
            local, domain = person.email.split("@")
            assert item["email"] == f"{local[0]}***@{domain}" and item["phone"] is None, (
                role,
                person.name,
            )
            assert person.email not in text and person.phone not in text, (role, person.name)


def test_a_teacher_cannot_spell_out_addresses_by_searching_inside_them(directory_school, login):
    """Search matches names, whole addresses, and parts of addresses only of one's own
    students; knowing a whole address shows that address (no phone) and nothing more."""
    s = directory_school
    local_part = s.student.email.split("@")[0] + "@"  # not part of the name
    assert local_part not in s.student.name.lower()
    own = login(s.teacher).get(f"/api/users?q={local_part}").get_json()["items"]
    assert [item["id"] for item in own] == [s.student.id]
    other = login(s.other_teacher)
    assert other.get(f"/api/users?q={local_part}").get_json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    exact = other.get(f"/api/users?q={s.student.email.upper()}").get_json()["items"]
    assert [(item["id"], item["email"], item["phone"]) for item in exact] == [
        (s.student.id, s.student.email, None)
    ]


def test_enrolment_errors_do_not_tell_which_ids_exist_or_are_staff(school, login):
    unknown = 999_999
    for manager in (school.teacher, school.admin):
        api = login(manager)
        answers = set()
        for user_id in (unknown, school.other_teacher.id, school.admin.id):
            response = api.post(
                f"/api/classes/{school.klass.id}/enrolments", json={"user_ids": [user_id]}
            )
            error = response.get_json()["error"]
            answers.add(
                (response.status_code, error["code"], error["message"].replace(str(user_id), "ID"))
            )
        assert len(answers) == 1, answers
        assert next(iter(answers))[0] == 400


def _api_endpoints(app) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}


def test_every_api_endpoint_has_a_row(app, school):
    rows = set(_table(Ctx(school, None, None)))
    missing = _api_endpoints(app) - rows
    assert not missing, f"endpoints without an authorization row: {sorted(missing)}"
    assert not rows - _api_endpoints(app), (
        f"rows for endpoints that no longer exist: {sorted(rows - _api_endpoints(app))}"
    )


def _endpoint_names() -> list[str]:
    import re
    from pathlib import Path

    # Every blueprint's rows ("api.x", "notifications_api.y", ...), not just the main one's.
    return re.findall(r'^\s+"(\w+\.\w+)": \(', Path(__file__).read_text(), flags=re.M)


# The sweep's world, built once for the module (users, a blocked student, another class, the
# co-teacher and the assistant, a sign-in each) inside one transaction that is never
# committed: each test runs in a SAVEPOINT of it (portal_testing.rolled_back), rolled back at
# its end, so every test finds the world exactly as built, and its clock starts at the
# instant the world was built (the class starts in 5 minutes, as in a world made for it).
# The sweep's tests come last in this file: the world lives until the module ends.
SWEEP_PEOPLE = (
    "teacher",
    "other_teacher",
    "admin",
    "student",
    "classmate",
    "outsider",
    "blocked",
    "co_teacher",
    "assistant",
)


@dataclass
class SweepWorld:
    ids: dict[str, int]  # person, "klass", "schedule", "config", "other_class" -> row id
    tokens: dict[str, str]  # role -> bearer token
    built_at: float  # time.time() when the world was built


class _ClockFromWorld:
    """The real clock, set back to the instant the world was built when the test began."""

    def __init__(self, built_at: float) -> None:
        self.offset = time.time() - built_at

    def time(self) -> float:
        return time.time() - self.offset


@pytest.fixture(scope="module")
def sweep_world(_shared_app, tmp_path_factory) -> Iterator[SweepWorld]:
    _shared_app.reset(tmp_path_factory.mktemp("sweep-world"))
    FAKE.reset()
    with _shared_app.app.app_context(), rolled_back(_shared_app.app):
        make_user = user_factory()
        school = build_school(make_user, add_fake_config())
        blocked = make_user("student")
        classes.enrol(school.teacher, school.klass.id, [blocked.id])
        blocking.block_user(
            school.teacher,
            user_id=blocked.id,
            scope="class",
            class_id=school.klass.id,
            reason="rude",
        )
        other_class = _outsiders_class(school)
        school.blocked = blocked
        school.co_teacher, school.assistant = make_user("teacher"), make_user("teacher")
        Ctx(school, blocked, other_class).add_staff(school.klass.id)
        db.session.commit()
        client = _shared_app.app.test_client()
        tokens = {
            role: sign_in(client, getattr(school, role)).token
            for role in SWEEP_PEOPLE
            if role not in ("classmate",)
        }
        ids = {person: getattr(school, person).id for person in SWEEP_PEOPLE}
        ids |= {
            "klass": school.klass.id,
            "schedule": school.schedule.id,
            "config": school.config.id,
            "other_class": other_class.id,
        }
        db.session.remove()
        yield SweepWorld(ids, tokens, built_at=time.time())


@pytest.fixture
def sweep(app, sweep_world) -> Iterator[tuple[Ctx, dict[str, str]]]:
    """This test's view of the sweep's world (its rows loaded in the test's session) and the
    bearer token of each role; the portal's clock starts at the world's building."""
    ids = sweep_world.ids
    school = SimpleNamespace(
        **{person: db.session.get(User, ids[person]) for person in SWEEP_PEOPLE},
        klass=db.session.get(Class, ids["klass"]),
        schedule=db.session.get(Schedule, ids["schedule"]),
        config=db.session.get(BackendConfig, ids["config"]),
    )
    other_class = db.session.get(Class, ids["other_class"])
    portal_clock.use(_ClockFromWorld(sweep_world.built_at))
    try:
        yield Ctx(school, school.blocked, other_class), sweep_world.tokens
    finally:
        portal_clock.reset()


@pytest.mark.parametrize("name", _endpoint_names())
def test_authorization(name, sweep, client):
    ctx, tokens = sweep
    school = ctx.s
    seen: dict[str, int] = {}
    for role in ROLES:
        method, url, body, expected = _table(ctx)[name]
        url = url() if callable(url) else url
        if body == "VOTE":
            poll = polls.get_results(school.teacher, int(url.split("/")[3]))
            body = {"option_ids": [poll["options"][0]["option_id"]]}
        body = body() if callable(body) else body
        db.session.commit()
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role != "anonymous" else {}
        if body == "FILE":
            response = client.open(
                url,
                method=method,
                headers=headers,
                content_type="multipart/form-data",
                data={"file": (io.BytesIO(make_pdf()), "deck.pdf")},
            )
        else:
            response = client.open(url, method=method, json=body, headers=headers)
        client._cookies.clear()
        seen[role] = response.status_code
        assert response.status_code < 500, (role, response.get_data(as_text=True)[:300])
        if response.status_code >= 400:
            assert set(response.get_json()["error"]) >= {"code", "message"}
        db.session.rollback()
        db.session.expire_all()
    actual = " ".join(str(seen[r]) for r in ROLES)
    assert seen == codes(expected), f"ACTUAL {name}: {actual} (expected {expected})"
    _guest_gets_what_anonymous_gets(name, ctx, client, seen["anonymous"])
    # Never "forbidden" for things outside a user's world: outsiders learn nothing.
    assert seen["outsider"] != 403 or "/classes/" not in url and "/schedules/" not in url


# A guest's own endpoints (tests/test_guests.py covers them): everything else answers a guest
# exactly what it answers someone signed in to nothing.
GUEST_ENDPOINTS = {"api.guest_me", "api.guest_knock", "api.guest_join", "api.guest_chat"}
GUEST_ENDPOINTS |= {"api.guest_leave"}


def _guest_gets_what_anonymous_gets(name: str, ctx: Ctx, client, anonymous: int) -> None:
    """The guest column of the sweep: a guest session of this very class opens nothing."""
    from portal.api.invites import GUEST_COOKIE
    from portal.core import invites

    _, token = ctx.new_invite()
    _guest, session_token = invites.redeem(token, "Visitor")
    method, url, body, _expected = _table(ctx)[name]
    url = url() if callable(url) else url
    body = body() if callable(body) else body
    if body == "VOTE":
        body = {"option_ids": [1]}
    db.session.commit()
    client.set_cookie(GUEST_COOKIE, session_token)
    if body == "FILE":
        response = client.open(url, method=method, data={}, content_type="multipart/form-data")
    else:
        response = client.open(url, method=method, json=body)
    client._cookies.clear()
    db.session.rollback()
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if name not in GUEST_ENDPOINTS:
        assert response.status_code == anonymous, (
            f"a guest got {response.status_code} from {name}, anonymous gets {anonymous}"
        )
