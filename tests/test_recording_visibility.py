"""Who may watch a recording: each visibility level against each kind of user, on the list,
the recording itself and its file; the share link and its revocation; only the class's
teacher or an admin changes visibility."""

from __future__ import annotations

import pytest
from content_utils import fetch
from fake_backend import FAKE
from portal_testing import PASSWORD, Api

from portal.core import meetings, storage
from portal.core.models import Meeting, Recording
from portal.core.types import utcnow
from portal.extensions import db
from portal.plugins import RecordingInfo

VIDEO = b"\x1aE\xdf\xa3 a webm recording " * 100


def _put(api: Api, url: str, body: dict):
    return api.client.put(url, json=body, headers=api._headers())


@pytest.fixture
def recording(school, login):
    """A stored recording of the school's class, with its file, shared by link once."""
    teacher = login(school.teacher)
    assert teacher.post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    row, _ = meetings.store_recording(
        meeting, RecordingInfo(record_id="rec-1", title="Lesson 1", recorded_at=utcnow())
    )
    key = storage.new_key(f"recordings/{school.klass.id}", "webm")
    storage.get_storage().save(key, VIDEO, "video/webm")
    row.storage_key = key
    db.session.commit()
    made = _put(teacher, f"/api/recordings/{row.id}/visibility", {"visibility": "link"})
    assert made.status_code == 200, made.get_json()
    return row.id, made.get_json()["share_link"]["token"]


def _kinds(school, login, client) -> dict[str, Api]:
    return {
        "anonymous": Api(client),
        "other class's student": login(school.outsider),
        "member": login(school.student),
        "teacher": login(school.teacher),
        "admin": login(school.admin),
    }


# (list status, listed?, recording status, download status) per visibility and user.
EXPECTED = {
    "teachers": {
        "anonymous": (401, False, 401, 401),
        "other class's student": (404, False, 404, 404),
        "member": (200, False, 404, 404),
        "teacher": (200, True, 200, 200),
        "admin": (200, True, 200, 200),
    },
    "members": {
        "anonymous": (401, False, 401, 401),
        "other class's student": (404, False, 404, 404),
        "member": (200, False, 200, 200),
        "teacher": (200, True, 200, 200),
        "admin": (200, True, 200, 200),
    },
    "link": {
        "anonymous": (401, False, 401, 401),
        "other class's student": (404, False, 404, 404),
        "member": (200, False, 200, 200),
        "teacher": (200, True, 200, 200),
        "admin": (200, True, 200, 200),
    },
    "published": {
        "anonymous": (401, False, 401, 401),
        "other class's student": (404, False, 404, 404),
        "member": (200, True, 200, 200),
        "teacher": (200, True, 200, 200),
        "admin": (200, True, 200, 200),
    },
}
# Holding the share link (no sign-in): the recording and its file open from `link` up.
LINK_OPENS = {"teachers": False, "members": False, "link": True, "published": True}


@pytest.mark.parametrize("visibility", list(EXPECTED))
def test_each_visibility_against_each_kind_of_user(visibility, school, login, client, recording):
    recording_id, token = recording
    teacher = login(school.teacher)
    changed = _put(
        teacher, f"/api/recordings/{recording_id}/visibility", {"visibility": visibility}
    )
    assert (
        changed.status_code == 200 and changed.get_json()["recording"]["visibility"] == visibility
    )

    for kind, api in _kinds(school, login, client).items():
        list_status, listed, get_status, download_status = EXPECTED[visibility][kind]
        listing = api.get(f"/api/classes/{school.klass.id}/recordings")
        assert listing.status_code == list_status, (visibility, kind)
        if list_status == 200:
            ids = [r["id"] for r in listing.get_json()]
            assert (recording_id in ids) is listed, (visibility, kind)
            mine = [r["id"] for r in api.get("/api/recordings").get_json()]
            assert (recording_id in mine) is listed, (visibility, kind)
        assert api.get(f"/api/recordings/{recording_id}").status_code == get_status, (
            visibility,
            kind,
        )
        download = api.get(f"/api/recordings/{recording_id}/download")
        assert download.status_code == download_status, (visibility, kind)
        if download_status == 200:
            assert fetch(client, download.get_json()["url"]) == (200, VIDEO)

    anonymous = Api(client)
    opens = LINK_OPENS[visibility]
    shared = anonymous.get(f"/api/shared-recordings/{token}")
    assert shared.status_code == (200 if opens else 404), visibility
    shared_file = anonymous.get(f"/api/shared-recordings/{token}/download")
    assert shared_file.status_code == (200 if opens else 404), visibility
    if opens:
        assert shared.get_json()["id"] == recording_id
        assert fetch(client, shared_file.get_json()["url"]) == (200, VIDEO)
    page = client.get(f"/watch/{token}")
    assert page.status_code == (200 if opens else 404), visibility
    if opens:
        assert b'<video id="recording-player"' in page.data


def _page_status(client, user, path: str) -> int:
    """The status of a page for a browser session of `user` (cookies, not a bearer token)."""
    client._cookies.clear()
    signed_in = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    status = client.get(path).status_code
    client._cookies.clear()
    return status


def test_the_recording_page_follows_the_same_rule(school, login, client, recording):
    recording_id, _ = recording
    path = f"/recordings/{recording_id}"
    teacher = login(school.teacher)
    _put(teacher, f"/api/recordings/{recording_id}/visibility", {"visibility": "teachers"})
    assert client.get(path).status_code == 302  # anonymous: to the login page
    assert _page_status(client, school.student, path) == 404
    assert _page_status(client, school.outsider, path) == 404
    assert _page_status(client, school.teacher, path) == 200
    assert _page_status(client, school.admin, path) == 200
    _put(teacher, f"/api/recordings/{recording_id}/visibility", {"visibility": "members"})
    assert _page_status(client, school.student, path) == 200
    assert _page_status(client, school.outsider, path) == 404


def test_local_downloads_answer_range_requests(school, login, client, recording):
    """The page's player seeks with Range requests: 206 and only the asked bytes."""
    recording_id, _ = recording
    link = login(school.teacher).get(f"/api/recordings/{recording_id}/download").get_json()
    path = "/files/" + link["url"].rsplit("/files/", 1)[1]
    part = client.get(path, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.data == VIDEO[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(VIDEO)}"
    assert client.get(path).headers.get("Accept-Ranges") == "bytes"


def test_a_revoked_or_renewed_link_stops_working(school, login, client, recording):
    recording_id, first = recording
    teacher, anonymous = login(school.teacher), Api(client)
    assert anonymous.get(f"/api/shared-recordings/{first}").status_code == 200

    renewed = teacher.post(f"/api/recordings/{recording_id}/share-link")
    assert renewed.status_code == 201
    second = renewed.get_json()["token"]
    assert second != first and renewed.get_json()["url"].endswith(f"/watch/{second}")
    assert anonymous.get(f"/api/shared-recordings/{first}").status_code == 404
    assert anonymous.get(f"/api/shared-recordings/{first}/download").status_code == 404
    assert client.get(f"/watch/{first}").status_code == 404
    assert anonymous.get(f"/api/shared-recordings/{second}").status_code == 200

    assert teacher.delete(f"/api/recordings/{recording_id}/share-link").status_code == 204
    gone = anonymous.get(f"/api/shared-recordings/{second}")
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "link_revoked"
    assert client.get(f"/watch/{second}").status_code == 404


def test_the_link_token_is_long_and_stored_only_hashed(school, login, recording):
    recording_id, token = recording
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    row = db.session.get(Recording, recording_id)
    assert row.share_token_hash and token not in row.share_token_hash


def test_a_student_cannot_change_visibility_or_the_link(school, login, client, recording):
    recording_id, token = recording
    student = login(school.student)
    refused = _put(
        student, f"/api/recordings/{recording_id}/visibility", {"visibility": "published"}
    )
    assert refused.status_code == 403 and refused.get_json()["error"]["code"]
    assert student.post(f"/api/recordings/{recording_id}/share-link").status_code == 403
    assert student.delete(f"/api/recordings/{recording_id}/share-link").status_code == 403
    outsider = login(school.outsider)
    assert outsider.post(f"/api/recordings/{recording_id}/share-link").status_code == 404
    db.session.expire_all()
    row = db.session.get(Recording, recording_id)
    assert row.visibility == "link"
    assert Api(client).get(f"/api/shared-recordings/{token}").status_code == 200
    assert FAKE.published == {}


def test_bad_visibility_is_a_clear_error(school, login, recording):
    recording_id, _ = recording
    answer = _put(
        login(school.teacher), f"/api/recordings/{recording_id}/visibility", {"visibility": "all"}
    )
    assert answer.status_code == 400 and answer.get_json()["error"]["message"]
    assert db.session.get(Recording, recording_id).visibility == "link"


def test_the_site_default_applies_to_new_recordings(school, login):
    admin = login(school.admin)
    changed = admin.patch("/api/admin/settings", json={"recording_visibility": "members"})
    assert changed.status_code == 200 and changed.get_json()["recording_visibility"] == "members"
    assert (
        login(school.teacher).patch("/api/admin/settings", json={"recording_visibility": "link"})
    ).status_code == 403
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    row, _ = meetings.store_recording(meeting, RecordingInfo(record_id="new", title="New"))
    assert row.visibility == "members"
    hidden, _ = meetings.store_recording(
        meeting, RecordingInfo(record_id="hidden", title="Hidden", published=False)
    )
    assert hidden.visibility == "teachers"


def test_bbb_style_backends_are_told_published_unless_teachers_only(school, login, recording):
    recording_id, _ = recording
    teacher = login(school.teacher)
    _put(teacher, f"/api/recordings/{recording_id}/visibility", {"visibility": "members"})
    assert FAKE.published == {}  # link -> members: still playable on the backend
    _put(teacher, f"/api/recordings/{recording_id}/visibility", {"visibility": "teachers"})
    assert FAKE.published == {"rec-1": False}
    _put(teacher, f"/api/recordings/{recording_id}/visibility", {"visibility": "published"})
    assert FAKE.published == {"rec-1": True}
