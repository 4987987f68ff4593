"""Minors' data (issue #23): a user's data export holds every kind of row they have and
nothing of anyone else's; an erasure leaves no trace of their contact data or files in the
database or the storage, keeps the class's other data, is idempotent, and a dry run changes
nothing; what admins read is in the audit log."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from content_utils import moto_s3_fixture, past_class, storage_kind_fixture  # noqa: F401
from portal_sso_insp.models import SsoToken
from portal_testing import sign_in

from portal.core import storage, unit_of_work
from portal.core.models import (
    Attendance,
    AuditLog,
    BlockedUser,
    BoardStroke,
    ChatMessage,
    Feedback,
    FloorSeat,
    LobbyEntry,
    Media,
    Meeting,
    Notification,
    Poll,
    PollOption,
    PollVote,
    Recording,
    User,
    UserIdentity,
)
from portal.core.privacy import erasure, export
from portal.core.types import utcnow
from portal.extensions import db

# Every section an export has for a student who did everything a student can do.
STUDENT_SECTIONS = {
    "profile",
    "identities",
    "enrolments",
    "attendance",
    "chat_messages",
    "poll_votes",
    "feedback",
    "notifications",
    "recordings",
    "classroom",
    "blocks",
    "uploads",
}


def _seed_person(user: User, schedule, meeting, poll, tag: str) -> dict[str, object]:
    """One of every kind of row for `user`, their words and file marked with `tag`."""
    option = poll.options[0]
    file_bytes = f"homework of {tag}".encode()
    key = storage.new_key(f"media/{schedule.class_id}", "txt")
    storage.get_storage().save(key, file_bytes, "text/plain")
    now = utcnow()
    db.session.add_all(
        [
            UserIdentity(user_id=user.id, provider="oidc", subject=f"sub-{tag}"),
            Attendance(meeting_id=meeting.id, user_id=user.id, display_name=user.name),
            ChatMessage(schedule_id=schedule.id, user_id=user.id, body=f"chat by {tag}"),
            PollVote(poll_id=poll.id, option_id=option.id, user_id=user.id),
            Feedback(
                user_id=user.id,
                class_id=schedule.class_id,
                schedule_id=schedule.id,
                rating=4,
                comment=f"feedback by {tag}",
            ),
            Media(
                class_id=schedule.class_id,
                schedule_id=schedule.id,
                uploaded_by=user.id,
                filename=f"{tag}.txt",
                content_type="text/plain",
                size_bytes=len(file_bytes),
                storage_key=key,
            ),
            Notification(
                user_id=user.id,
                schedule_id=schedule.id,
                kind="reminder",
                key="15",
                channel="email",
                due_at=now,
                status="sent",
            ),
            LobbyEntry(schedule_id=schedule.id, user_id=user.id, message=f"knock by {tag}"),
            FloorSeat(schedule_id=schedule.id, user_id=user.id, hand_raised_at=now),
            BoardStroke(schedule_id=schedule.id, page=1, user_id=user.id, data={"tag": tag}),
            BlockedUser(user_id=user.id, scope="site", reason=f"block of {tag}"),
            SsoToken(provider="insp", jti=f"jti-{tag}", user_id=user.id, expires_at=now),
        ]
    )
    db.session.commit()
    return {"file_bytes": file_bytes, "key": key}


@pytest.fixture
def seeded(app, make_user):
    """Two students of one class, each with every kind of row, and the class's recording."""
    teacher = make_user("teacher")
    admin = make_user("admin")
    zelda = make_user(
        "student", name="Zelda Quixote", email="zelda.q@tests.school", phone="+33612345678"
    )
    yann = make_user(
        "student", name="Yann Borealis", email="yann.b@tests.school", phone="+33698765432"
    )
    klass, schedule = past_class(teacher, [zelda, yann])
    meeting = Meeting(schedule_id=schedule.id, backend="fake", status="ended")
    db.session.add(meeting)
    db.session.flush()
    poll = Poll(schedule_id=schedule.id, question="Best number?", status="closed")
    poll.options = [PollOption(position=0, text="Seven"), PollOption(position=1, text="Nine")]
    db.session.add(poll)
    db.session.add(
        Recording(
            class_id=klass.id,
            meeting_id=meeting.id,
            backend="fake",
            backend_record_id="rec-1",
            title="Algebra, lesson 1",
        )
    )
    db.session.commit()
    files = {
        "zelda": _seed_person(zelda, schedule, meeting, poll, "zelda"),
        "yann": _seed_person(yann, schedule, meeting, poll, "yann"),
    }
    return type(
        "Seeded",
        (),
        dict(
            teacher=teacher,
            admin=admin,
            zelda=zelda,
            yann=yann,
            klass=klass,
            schedule=schedule,
            files=files,
        ),
    )


def _zip_of(user: User) -> dict[str, bytes]:
    data = export.build_zip(export.collect(user))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_an_export_holds_every_kind_of_row_of_the_user_and_nothing_of_others(seeded):
    content = _zip_of(seeded.zelda)
    sections = {
        name.removesuffix(".json"): json.loads(body)
        for name, body in content.items()
        if name.endswith(".json")
    }
    empty = sorted(name for name in STUDENT_SECTIONS if not sections.get(name))
    assert empty == []
    assert sections["profile"][0]["email"] == "zelda.q@tests.school"
    assert sections["profile"][0]["phone"] == "+33612345678"
    assert [m["body"] for m in sections["chat_messages"]] == ["chat by zelda"]
    assert sections["poll_votes"][0]["option"] == "Seven"
    assert sections["recordings"][0]["title"] == "Algebra, lesson 1"
    kinds = {row["kind"] for row in sections["classroom"]}
    assert kinds == {"waiting room", "floor", "whiteboard stroke"}
    # The plugin's section (sso_oidc answers export_user_data for its identities).
    assert sections["plugins/sso_oidc.identities"][0]["subject"] == "sub-zelda"
    assert [row["kind"] for row in sections["plugins/sso_insp.sign_ins"]] == ["insp"]
    # The uploaded file itself is in the zip.
    files = [name for name in content if name.startswith("files/")]
    assert [content[name] for name in files] == [b"homework of zelda"]
    everything = b"\n".join(content.values())
    for other in (b"yann", b"Yann", b"+33698765432"):
        assert other not in everything


def test_an_export_is_prepared_in_the_background_with_progress_and_a_signed_link(seeded, client):
    api = sign_in(client, seeded.zelda)
    response = api.post(f"/api/users/{seeded.zelda.id}/exports")
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["status"] == "queued" and job["download_url"] is None
    assert export.run_pending() == 1
    ready = api.get(f"/api/exports/{job['id']}").get_json()
    assert ready["status"] == "ready" and ready["percent"] == 100
    path = ready["download_url"].split("://", 1)[1].split("/", 1)[1]
    download = client.get("/" + path)
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert "chat_messages.json" in archive.namelist()
    # A forged link is refused.
    assert client.get("/" + path[:-3] + "xyz").status_code == 404


def test_only_the_user_or_an_admin_exports_and_an_admin_export_is_audit_logged(seeded, client):
    yann = sign_in(client, seeded.yann)
    refused = yann.post(f"/api/users/{seeded.zelda.id}/exports")
    assert refused.status_code == 404
    admin = sign_in(client, seeded.admin)
    made = admin.post(f"/api/users/{seeded.zelda.id}/exports", json={"reason": "parent asked"})
    assert made.status_code == 202
    assert yann.get(f"/api/exports/{made.get_json()['id']}").status_code == 404
    log = admin.get("/api/admin/audit?action=privacy.export").get_json()["items"]
    assert [(e["actor_id"], e["target_id"]) for e in log] == [
        (seeded.admin.id, str(seeded.zelda.id))
    ]


# Erasure -------------------------------------------------------------------------------


def _dump() -> str:
    """Every row of every table, as text (the whole database, as a grep would see it)."""
    metadata = sa.MetaData()
    metadata.reflect(bind=db.session.connection())
    lines = []
    for table in metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


def _stored_files(app) -> dict[str, bytes]:
    store = storage.get_storage()
    if isinstance(store, storage.LocalStorage):
        root = Path(app.config["STORAGE_DIR"])
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    keys = [
        item["Key"]
        for item in store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])  # type: ignore[attr-defined]
    ]
    return {key: store.read(key) for key in keys}


ZELDA = ("Zelda", "zelda.q@tests.school", "+33612345678", "sub-zelda")


@pytest.mark.parametrize("storage_kind", ["local", "s3"], indirect=True)
def test_an_erasure_leaves_no_contact_data_or_file_of_the_user(app, storage_kind, seeded):
    before = _dump()
    assert all(text in before for text in ZELDA)
    result = erasure.erase(seeded.admin, seeded.zelda.id)
    unit_of_work.commit()
    assert not result.dry_run and result.changes
    dump = _dump()
    left = [text for text in ZELDA if text in dump]
    assert left == []
    files = _stored_files(app)
    assert b"homework of zelda" not in files.values()
    assert seeded.files["zelda"]["key"] not in files
    # The classmate and the class are untouched.
    assert b"homework of yann" in files.values()
    for text in ("Yann Borealis", "yann.b@tests.school", "+33698765432", "chat by yann"):
        assert text in dump
    assert "Algebra, lesson 1" in dump
    # The plugin erased its own rows (erase_user_data): the insp sign-in tokens.
    owners = set(db.session.execute(sa.select(SsoToken.user_id)).scalars())
    assert owners == {seeded.yann.id}
    # By default Zelda's words stay with the class, as a former student's.
    kept = db.session.execute(sa.select(ChatMessage).filter_by(body="chat by zelda")).scalar()
    assert kept is not None
    former = db.session.get(User, seeded.zelda.id)
    assert former is not None and former.name == "Former student"
    assert former.password_hash is None and not former.is_active


def test_the_erased_user_cannot_sign_in_and_their_tokens_stop_working(seeded, client):
    api = sign_in(client, seeded.zelda)
    assert api.get(f"/api/users/{seeded.zelda.id}").status_code == 200
    erasure.erase(seeded.admin, seeded.zelda.id)
    unit_of_work.commit()
    assert api.get(f"/api/users/{seeded.zelda.id}").status_code == 401
    refused = client.post(
        "/api/auth/login", json={"email": "zelda.q@tests.school", "password": "x" * 12}
    )
    assert refused.status_code == 401


def test_a_dry_run_changes_nothing_and_lists_what_will_change(seeded, client):
    before = _dump()
    admin = sign_in(client, seeded.admin)
    response = admin.post(f"/api/users/{seeded.zelda.id}/erasure", json={"dry_run": True})
    assert response.status_code == 200, response.get_json()
    planned = {c["what"]: c for c in response.get_json()["changes"]}
    assert planned["users"]["count"] == 1
    assert planned["media"]["action"] == "delete with file"
    assert planned["plugins/sso_oidc.identities"]["count"] == 1
    assert _dump() == before


def test_an_erasure_twice_changes_nothing_the_second_time(seeded, client):
    admin = sign_in(client, seeded.admin)
    first = admin.post(f"/api/users/{seeded.zelda.id}/erasure", json={})
    assert first.status_code == 200
    after_first = _dump()
    second = admin.post(f"/api/users/{seeded.zelda.id}/erasure", json={})
    assert second.status_code == 200
    assert second.get_json()["already_erased"] is True
    assert second.get_json()["changes"] == []
    assert _dump() == after_first


def test_the_delete_policy_deletes_the_users_chat_votes_and_feedback(seeded):
    erasure.set_policy(seeded.admin, "delete")
    erasure.erase(seeded.admin, seeded.zelda.id)
    unit_of_work.commit()
    for model in (ChatMessage, PollVote, Feedback, BoardStroke):
        owners = set(db.session.execute(sa.select(model.user_id)).scalars())
        assert owners == {seeded.yann.id}, model.__tablename__


def test_the_erasure_audit_entry_keeps_counts_not_data(seeded):
    erasure.erase(seeded.admin, seeded.zelda.id)
    unit_of_work.commit()
    entry = db.session.execute(sa.select(AuditLog).filter_by(action="privacy.erasure")).scalar()
    assert entry is not None and entry.actor_id == seeded.admin.id
    assert entry.details["counts"]["media:delete with file"] == 1
    assert "zelda" not in json.dumps(entry.details).lower()


def test_only_admins_erase_and_never_themselves(seeded, client):
    teacher = sign_in(client, seeded.teacher)
    assert teacher.post(f"/api/users/{seeded.zelda.id}/erasure", json={}).status_code == 403
    admin = sign_in(client, seeded.admin)
    self_erase = admin.post(f"/api/users/{seeded.admin.id}/erasure", json={})
    assert self_erase.status_code == 400
    assert self_erase.get_json()["error"]["code"] == "erase_self"
    assert admin.post("/api/users/999999/erasure", json={}).status_code == 404


def test_after_an_erasure_the_same_sso_identity_makes_a_new_account(seeded):
    from portal.plugins import ExternalIdentity, services

    erasure.erase(seeded.admin, seeded.zelda.id)
    unit_of_work.commit()
    assert services.find_user_by_identity("oidc", "sub-zelda") is None
    user, created = services.provision_user(
        ExternalIdentity(
            provider="oidc",
            subject="sub-zelda",
            email="zelda.q@tests.school",
            name="Zelda Quixote",
            role="student",
        )
    )
    assert created and user.id != seeded.zelda.id


# Who looked ----------------------------------------------------------------------------


def _log(admin_api, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return admin_api.get(f"/api/admin/audit?{query}").get_json()["items"]


def test_reading_someone_elses_contact_data_is_audit_logged(seeded, client):
    admin = sign_in(client, seeded.admin)
    assert admin.get(f"/api/users/{seeded.zelda.id}").status_code == 200
    assert admin.get(f"/api/users/{seeded.admin.id}").status_code == 200  # oneself: not logged
    reads = _log(admin, action="privacy.contact_read")
    assert [(e["actor_id"], e["target_id"]) for e in reads] == [
        (seeded.admin.id, str(seeded.zelda.id))
    ]
    admin.get("/api/users?q=zelda")
    reads = _log(admin, action="privacy.contact_read", subject_id=seeded.zelda.id)
    assert len(reads) == 2


def test_the_admin_users_page_logs_each_person_whose_address_it_shows(seeded, client):
    client.post("/api/auth/login", json={"email": seeded.admin.email, "password": PASSWORD})
    page = client.get("/admin/users?q=zelda")
    assert page.status_code == 200 and b"zelda.q@tests.school" in page.data
    unit_of_work.commit()
    subjects = db.session.execute(
        sa.select(AuditLog.target_id).filter_by(action="privacy.contact_read")
    ).scalars()
    assert list(subjects) == [str(seeded.zelda.id)]


def test_attendance_csv_and_recording_downloads_are_audit_logged(seeded, client):
    teacher = sign_in(client, seeded.teacher)
    csv = teacher.get(f"/api/schedules/{seeded.schedule.id}/attendance.csv")
    assert csv.status_code == 200
    recording = db.session.execute(sa.select(Recording)).scalar_one()
    key = storage.new_key("recordings/1", "mp4")
    storage.get_storage().save(key, b"video", "video/mp4")
    recording.storage_key = key
    db.session.commit()
    assert teacher.get(f"/api/recordings/{recording.id}/download").status_code == 200
    admin = sign_in(client, seeded.admin)
    entries = _log(admin, actor_id=seeded.teacher.id, action="privacy.")
    assert sorted((e["action"], e["target_type"]) for e in entries) == [
        ("privacy.attendance_csv", "schedule"),
        ("privacy.recording_download", "recording"),
    ]


def test_the_audit_page_filters_by_action_and_date(seeded, client):
    admin = sign_in(client, seeded.admin)
    admin.get(f"/api/users/{seeded.zelda.id}")
    client.post("/api/auth/login", json={"email": seeded.admin.email, "password": PASSWORD})
    today = utcnow().date()
    page = client.get(f"/admin/audit?action=privacy.contact_read&since={today}&until={today}")
    assert page.status_code == 200
    assert b"privacy.contact_read" in page.data and b"user.create" not in page.data
    tomorrow = today + timedelta(days=1)
    later = client.get(f"/admin/audit?action=privacy.contact_read&since={tomorrow}")
    assert b"privacy.contact_read</td>" not in later.data
    student = client.post(
        "/api/auth/login", json={"email": seeded.zelda.email, "password": PASSWORD}
    )
    assert student.status_code == 200
    assert client.get("/admin/audit").status_code == 403


PASSWORD = "correct-horse-battery"
