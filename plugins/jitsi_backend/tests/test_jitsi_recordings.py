"""Recordings: Jibri finalize uploads and JaaS RECORDING_UPLOADED downloads are stored and
listed."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

from jitsi_fakes import MP4, FakeJitsiServer
from jitsi_testkit import (
    UPLOAD_TOKEN,
    jaas_event,
    jaas_settings,
    jaas_signed,
    start_class,
    use_jitsi,
)

from portal.core import meetings, storage
from portal.core.models import Meeting, Recording
from portal.extensions import db

DOCS = Path(__file__).resolve().parents[3] / "docs" / "jitsi.md"


def _upload(
    client,
    meeting: Meeting,
    *,
    token: str = UPLOAD_TOKEN,
    data: bytes = MP4,
    session: str = "abc123",
    room: str | None = None,
):
    metadata = json.dumps(
        {
            "meeting_url": f"https://meet.school.test/{room or meeting.backend_meeting_id}",
            "participants": [],
        }
    )
    return client.post(
        "/plugins/jitsi/recordings",
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
        data={
            "recording": (io.BytesIO(data), "room_2026-11-29-10-00-00.mp4"),
            "metadata": (io.BytesIO(metadata.encode()), "metadata.json"),
            "session_id": session,
            "recorded_at": "1795000000",
        },
    )


def _recordings() -> list[Recording]:
    db.session.expire_all()
    return list(db.session.execute(db.select(Recording)).scalars())


def test_jibri_upload_is_stored_and_listed(jitsi_school, login, client):
    school = jitsi_school
    meeting = start_class(school, login)

    response = _upload(client, meeting)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["record_id"] == "jibri-abc123"
    [row] = _recordings()
    assert (row.class_id, row.meeting_id, row.backend, row.format) == (
        school.klass.id,
        meeting.id,
        "jitsi",
        "video",
    )
    assert row.title.startswith("Algebra (")
    assert storage.read_bytes(row.storage_key) == MP4

    from portal_jitsi_backend import BACKEND

    db.session.refresh(meeting)
    listed = BACKEND.list_recordings(
        meetings.settings_for_meeting(meeting), meetings.handle_of(meeting)
    )
    assert [r.record_id for r in listed] == ["jibri-abc123"]
    assert (
        listed[0].recorded_at is not None and int(listed[0].recorded_at.timestamp()) == 1795000000
    )

    again = _upload(client, meeting)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert len(_recordings()) == 1


def test_bad_uploads_are_refused(jitsi_school, login, client):
    meeting = start_class(jitsi_school, login)
    forged = _upload(client, meeting, token="upload-token-that-is-wrong-123")
    assert (
        forged.status_code == 401 and forged.get_json()["error"]["code"] == "invalid_upload_token"
    )
    assert _upload(client, meeting, data=b"<html>not a video</html>").status_code == 400
    assert _upload(client, meeting, room="not-a-class-room").status_code == 404
    assert _recordings() == []


def test_jaas_recording_is_downloaded_from_the_preauthenticated_link(
    school, login, client, jaas_keys
):
    use_jitsi(school, jaas_settings(jaas_keys[0]), name="JaaS")
    meeting = start_class(school, login)
    with FakeJitsiServer() as jaas:
        jaas.files["/recordings/sess-1.mp4"] = MP4
        body = jaas_event(
            meeting,
            "RECORDING_UPLOADED",
            {
                "participants": [],
                "share": True,
                "initiatorId": str(school.teacher.id),
                "durationSec": 1800,
                "startTimestamp": 1795000000000,
                "endTimestamp": 1795001800000,
                "recordingSessionId": "sess-1",
                "preAuthenticatedLink": f"{jaas.base_url}/recordings/sess-1.mp4?sig=ok",
            },
        )
        response = client.post("/plugins/jitsi/jaas/webhook", data=body, headers=jaas_signed(body))
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["stored"] is True
        assert jaas.downloads == ["/recordings/sess-1.mp4"]
    [row] = _recordings()
    assert row.backend_record_id == "jaas-sess-1" and row.duration_seconds == 1800
    assert storage.read_bytes(row.storage_key) == MP4
    db.session.refresh(meeting)
    assert meeting.data.get("pending_downloads") == []


def test_failed_jaas_download_is_retried_by_the_periodic_job(school, login, client, jaas_keys):
    from portal_jitsi_backend.recordings import retry_pending_downloads

    use_jitsi(school, jaas_settings(jaas_keys[0]), name="JaaS")
    meeting = start_class(school, login)
    with FakeJitsiServer() as jaas:
        jaas.files["/r/2.mp4"] = MP4
        jaas.fail_next_downloads = 1
        body = jaas_event(
            meeting,
            "RECORDING_UPLOADED",
            {
                "recordingSessionId": "sess-2",
                "durationSec": 60,
                "preAuthenticatedLink": f"{jaas.base_url}/r/2.mp4?sig=ok",
            },
        )
        assert (
            client.post(
                "/plugins/jitsi/jaas/webhook", data=body, headers=jaas_signed(body)
            ).get_json()["stored"]
            is False
        )
        assert _recordings() == []
        db.session.refresh(meeting)
        [pending] = meeting.data["pending_downloads"]
        assert pending["attempts"] == 1 and "503" in pending["error"]

        # JaaS retrying the same delivery does not queue it twice.
        assert (
            client.post(
                "/plugins/jitsi/jaas/webhook", data=body, headers=jaas_signed(body)
            ).get_json()["status"]
            == "duplicate"
        )
        retry_pending_downloads()
    [row] = _recordings()
    assert row.backend_record_id == "jaas-sess-2"
    db.session.refresh(meeting)
    assert meeting.data["pending_downloads"] == []


def _finalize_script() -> str:
    text = DOCS.read_text()
    block = text.split("<!-- finalize-script:start -->", 1)[1].split(
        "<!-- finalize-script:end -->", 1
    )[0]
    return re.search(r"```bash\n(.*?)```", block, re.S).group(1)


def test_documented_finalize_script_uploads_a_jibri_recording(
    jitsi_school, login, portal_url, tmp_path
):
    meeting = start_class(jitsi_school, login)
    script = tmp_path / "finalize.sh"
    script.write_text(_finalize_script())

    def recording_dir(name: str) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        (directory / f"{meeting.backend_meeting_id}_2026-11-29-10-00-00.mp4").write_bytes(MP4)
        (directory / "metadata.json").write_text(
            json.dumps(
                {
                    "meeting_url": f"https://meet.school.test/{meeting.backend_meeting_id}",
                    "participants": [],
                }
            )
        )
        return directory

    env = {
        "PATH": os.environ["PATH"],
        "PORTAL_URL": portal_url,
        "PORTAL_UPLOAD_ENV": str(tmp_path / "none.env"),
    }
    refused_dir = recording_dir(f"refused{uuid.uuid4().hex[:6]}")
    refused = subprocess.run(
        ["bash", str(script), str(refused_dir)],
        env={**env, "PORTAL_UPLOAD_TOKEN": "wrong-token-0123456789"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert refused_dir.exists()  # kept for a later retry
    assert _recordings() == []

    good_dir = recording_dir("sessionx")
    done = subprocess.run(
        ["bash", str(script), str(good_dir)],
        env={**env, "PORTAL_UPLOAD_TOKEN": UPLOAD_TOKEN},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not good_dir.exists()
    [row] = _recordings()
    assert row.backend_record_id.startswith("jibri-sessionx-")
    assert storage.read_bytes(row.storage_key) == MP4


def test_recordings_larger_than_the_portal_request_limit_are_accepted_up_to_the_setting(
    school, login, client, app
):
    from jitsi_testkit import self_hosted_settings

    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # the portal's general limit: 1 MiB
    use_jitsi(school, self_hosted_settings(max_recording_mb=2))
    meeting = start_class(school, login)
    big = MP4 + b"\x00" * (1536 * 1024)  # 1.5 MiB: over the portal limit, under the setting
    assert _upload(client, meeting, data=big, session="big").status_code == 201
    too_big = MP4 + b"\x00" * (3 * 1024 * 1024)
    assert _upload(client, meeting, data=too_big, session="huge").status_code == 413
    assert [r.backend_record_id for r in _recordings()] == ["jibri-big"]


def test_two_jaas_recordings_of_one_meeting_session_are_both_stored(
    school, login, client, jaas_keys
):
    """A teacher stops and restarts the recording: one meeting session (payload sessionId),
    two RECORDING_UPLOADED events, two recordings."""
    use_jitsi(school, jaas_settings(jaas_keys[0]), name="JaaS")
    meeting = start_class(school, login)
    session = str(uuid.uuid4())

    def uploaded(path: str, **data) -> dict:
        body = json.loads(
            jaas_event(
                meeting,
                "RECORDING_UPLOADED",
                {
                    "participants": [],
                    "share": True,
                    "initiatorId": str(school.teacher.id),
                    "durationSec": 600,
                    "preAuthenticatedLink": f"{jaas.base_url}{path}?sig=ok",
                    **data,
                },
            )
        )
        body["sessionId"] = session
        raw = json.dumps(body).encode()
        response = client.post("/plugins/jitsi/jaas/webhook", data=raw, headers=jaas_signed(raw))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    with FakeJitsiServer() as jaas:
        for path in ("/r/first.mp4", "/r/second.mp4", "/r/third.mp4", "/r/fourth.mp4"):
            jaas.files[path] = MP4
        # With the recording's own id, and without it (then the file names the recording).
        first = uploaded("/r/first.mp4", recordingSessionId="rec-1")
        second = uploaded("/r/second.mp4", recordingSessionId="rec-2")
        third = uploaded("/r/third.mp4")
        fourth = uploaded("/r/fourth.mp4")
        assert all(r["stored"] is True for r in (first, second, third, fourth))
        assert sorted(jaas.downloads) == [
            "/r/first.mp4",
            "/r/fourth.mp4",
            "/r/second.mp4",
            "/r/third.mp4",
        ]
    ids = sorted(r.backend_record_id for r in _recordings())
    assert len(ids) == 4 and ids[-2:] == ["jaas-rec-1", "jaas-rec-2"]
    assert session not in " ".join(ids)
