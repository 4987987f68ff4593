"""End to end through the portal API, against the BBB simulator."""

from __future__ import annotations

import base64
import threading
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from portal_testing import serving

from portal import tasks
from portal.core.models import Attendance, Meeting, Recording, Slide
from portal.extensions import db


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _count(model) -> int:
    return db.session.execute(db.select(db.func.count(model.id))).scalar_one()


def test_start_creates_the_meeting_and_teacher_joins_as_moderator(school, login, sim):
    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 200, response.get_json()
    join = response.get_json()["join"]
    assert join["kind"] == "redirect"
    assert join["url"].startswith(sim.api_url + "join?")

    assert sim.create_count == 1
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    bbb_meeting = sim.meetings[meeting.backend_meeting_id]
    create = sim.calls("create")[0].params
    assert create["name"] == "Physics"
    assert create["record"] == "true"
    assert create["meta_portal-class-id"] == str(school.klass.id)
    assert create["meta_endCallbackUrl"].startswith(
        "http://127.0.0.1:5000/plugins/bbb/end?meetingID="
    )
    assert (
        create["meta_bbb-recording-ready-url"]
        == "http://127.0.0.1:5000/plugins/bbb/recording-ready"
    )
    assert meeting.data["createTime"] == str(bbb_meeting.create_time)

    params = _query(join["url"])
    assert params["role"] == "MODERATOR"
    assert params["userID"] == str(school.teacher.id)
    assert params["fullName"] == "Ada Teacher"
    assert params["createTime"] == str(bbb_meeting.create_time)
    assert params["redirect"] == "true"
    # The browser follows the link: the simulator checks the checksum and lets the teacher in.
    followed = sim.join_browser(join["url"])
    assert followed.status_code == 302
    assert "/html5client/join?sessionToken=" in followed.headers["Location"]
    assert [(a.user_id, a.role) for a in bbb_meeting.attendees] == [
        (str(school.teacher.id), "MODERATOR")
    ]


def test_students_wait_for_the_teacher_then_join_as_viewers(school, login, sim):
    student = login(school.student)
    waiting = student.post(f"/api/schedules/{school.schedule.id}/join")
    assert waiting.status_code == 409
    assert waiting.get_json()["error"]["code"] == "not_started"
    assert (
        student.get(f"/api/schedules/{school.schedule.id}/meeting").get_json()["state"]
        == "not_started"
    )
    assert sim.calls("create") == []

    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    joined = student.post(f"/api/schedules/{school.schedule.id}/join")
    assert joined.status_code == 200
    params = _query(joined.get_json()["url"])
    assert params["role"] == "VIEWER"
    assert params["userID"] == str(school.student.id)
    assert sim.join_browser(joined.get_json()["url"]).status_code == 302
    assert sim.create_count == 1  # joining never creates again


def test_a_join_link_from_a_previous_session_is_refused_by_bbb(school, login, sim):
    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    old_link = login(school.student).post(f"/api/schedules/{sid}/join").get_json()["url"]
    assert teacher.post(f"/api/schedules/{sid}/end").status_code == 200
    restarted = teacher.post(f"/api/schedules/{sid}/start")
    assert restarted.status_code == 200
    assert sim.create_count == 2
    stale = sim.join_browser(old_link)
    assert (
        stale.status_code == 200
        and b"<messageKey>mismatchCreateTimeParam</messageKey>" in stale.content
    )
    fresh = login(school.student).post(f"/api/schedules/{sid}/join").get_json()["url"]
    assert sim.join_browser(fresh).status_code == 302


def _add_slide(school, filename: str, data: bytes) -> None:
    from portal.core import storage

    key = storage.new_key(f"slides/{school.klass.id}", "pdf")
    storage.get_storage().save(key, data, "application/pdf")
    db.session.add(
        Slide(
            class_id=school.klass.id,
            filename=filename,
            storage_key=key,
            size_bytes=len(data),
            page_count=1,
            position=0,
        )
    )
    db.session.commit()


def test_slides_are_preloaded_inline_when_bbb_cannot_download_them(school, login, sim):
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF"
    _add_slide(school, "lesson-1.pdf", pdf)
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    create = sim.calls("create")[0]
    assert create.method == "POST"
    bbb_meeting = next(iter(sim.meetings.values()))
    assert bbb_meeting.presentations == [{"name": "lesson-1.pdf", "data": pdf}]
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    assert meeting.data["slides"]["inline"] == ["lesson-1.pdf"]


def test_slides_go_by_url_when_the_portal_link_is_public_https(school, login, sim, monkeypatch):
    from portal.core import storage

    _add_slide(school, "lesson-2.pdf", b"%PDF-1.4 small")
    monkeypatch.setattr(
        storage,
        "public_url",
        lambda key, expires_in=3600, filename=None: f"https://portal.school.example/files/{key}",
    )
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    bbb_meeting = next(iter(sim.meetings.values()))
    [doc] = bbb_meeting.presentations
    assert doc["filename"] == "lesson-2.pdf"
    assert doc["url"].startswith("https://portal.school.example/files/slides/")


@pytest.mark.real_commits  # racing threads each commit on their own connection
def test_concurrent_starts_and_joins_create_the_meeting_once(school, app, sim):
    from portal.core import meetings
    from portal.core.models import User

    sim.create_delay = 0.3
    errors, urls = [], []

    def start():
        with app.app_context():
            try:
                teacher = db.session.get(User, school.teacher.id)
                _, target = meetings.start_class(teacher, school.schedule.id)
                urls.append(target.url)
            except Exception as exc:  # pragma: no cover - reported by the assert below
                errors.append(exc)
            finally:
                db.session.remove()

    def join(user_id: int):
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                for _ in range(100):  # students keep clicking until the teacher's start lands
                    try:
                        urls.append(meetings.join_class(user, school.schedule.id).url)
                        return
                    except Exception as exc:
                        if getattr(exc, "code", None) != "not_started":
                            raise
                        db.session.rollback()
                        threading.Event().wait(0.05)
            except Exception as exc:  # pragma: no cover
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=start) for _ in range(5)]
    threads += [
        threading.Thread(target=join, args=(uid,))
        for uid in (school.student.id, school.classmate.id)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(urls) == 7
    assert sim.create_count == 1
    assert len(sim.calls("create")) == 1
    create_times = {_query(u)["createTime"] for u in urls}
    assert create_times == {str(next(iter(sim.meetings.values())).create_time)}


def test_teacher_ends_the_class_on_bbb(school, login, sim, callbacks_to_portal):
    teacher = login(school.teacher)
    teacher.post(f"/api/schedules/{school.schedule.id}/start")
    meeting_id = db.session.execute(db.select(Meeting)).scalar_one().backend_meeting_id
    ended = teacher.post(f"/api/schedules/{school.schedule.id}/end")
    assert ended.status_code == 200 and ended.get_json()["state"] == "ended"
    assert meeting_id not in sim.meetings
    assert len(sim.calls("end")) == 1
    # BBB's end callback arrives afterwards and changes nothing (the analytics callback follows it).
    [(method, url, status), analytics] = sim.deliver_callbacks()
    assert method == "GET" and "recordingmarks=false" in url and status == 200
    assert analytics == ("POST", "http://127.0.0.1:5000/plugins/bbb/analytics", 200)
    assert (
        login(school.student)
        .post(f"/api/schedules/{school.schedule.id}/join")
        .get_json()["error"]["code"]
        == "class_ended"
    )


def test_meeting_ended_on_bbb_is_ended_in_the_portal_by_the_callback(
    school, login, sim, callbacks_to_portal, client
):
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    end_url = sim.calls("create")[0].params["meta_endCallbackUrl"]
    forged = urlsplit(end_url.replace("token=", "token=0"))
    assert client.get(f"{forged.path}?{forged.query}").status_code == 401
    db.session.refresh(meeting)
    assert meeting.status == "running"

    sim.end_from_bbb(meeting.backend_meeting_id)
    assert [status for _, _, status in sim.deliver_callbacks()] == [200, 200]  # end, then analytics
    db.session.refresh(meeting)
    assert meeting.status == "ended"
    assert (
        login(school.student)
        .get(f"/api/schedules/{school.schedule.id}/meeting")
        .get_json()["state"]
        == "ended"
    )


def test_late_end_callback_of_a_previous_session_does_not_end_the_restarted_one(
    school, login, sim, callbacks_to_portal
):
    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    sim.end_from_bbb(meeting.backend_meeting_id)
    late = list(sim.pending_callbacks)
    sim.pending_callbacks.clear()
    # The portal did not hear about it yet; the teacher ends and restarts.
    teacher.post(f"/api/schedules/{sid}/end")
    assert teacher.post(f"/api/schedules/{sid}/start").status_code == 200
    sim.pending_callbacks.extend(late)
    sim.deliver_callbacks()
    db.session.refresh(meeting)
    assert meeting.status == "running"


def _run_and_record(school, login, sim) -> Meeting:
    teacher = login(school.teacher)
    teacher.post(f"/api/schedules/{school.schedule.id}/start")
    sim.join_browser(
        login(school.student).post(f"/api/schedules/{school.schedule.id}/join").get_json()["url"]
    )
    teacher.post(f"/api/schedules/{school.schedule.id}/end")
    return db.session.execute(db.select(Meeting)).scalar_one()


def test_recording_ready_callback_stores_the_recording_once(
    school, login, sim, callbacks_to_portal, client
):
    meeting = _run_and_record(school, login, sim)
    sim.deliver_callbacks()  # the end callback
    [record_id] = sim.finish_recordings()
    [(method, url, status)] = sim.deliver_callbacks()
    assert (method, url, status) == (
        "POST",
        "http://127.0.0.1:5000/plugins/bbb/recording-ready",
        200,
    )

    row = db.session.execute(db.select(Recording)).scalar_one()
    assert row.backend_record_id == record_id
    assert row.meeting_id == meeting.id and row.class_id == school.klass.id
    assert row.format == "presentation"
    assert row.playback_url == f"{sim.origin}/playback/presentation/2.3/{record_id}"
    assert row.title == "Physics"
    assert row.duration_seconds is not None and row.recorded_at is not None
    assert len(row.preview_images) == 2
    assert client.get("/plugins/bbb/recording-ready").status_code == 405
    # The playback link works on the (simulated) server.
    assert sim.join_browser(row.playback_url).status_code == 200

    # BBB may deliver the same callback again: nothing new is created.
    again = client.post(
        "/plugins/bbb/recording-ready",
        data={"signed_parameters": sim.signed_parameters(meeting.backend_meeting_id, record_id)},
    )
    assert again.status_code == 200 and again.get_json() == {"stored": 1, "created": 0}
    assert _count(Recording) == 1


def test_forged_recording_callback_is_rejected(school, login, sim, callbacks_to_portal, client):
    meeting = _run_and_record(school, login, sim)
    [record_id] = sim.finish_recordings(callback=False)
    forged = sim.signed_parameters(
        meeting.backend_meeting_id, record_id, secret="an-attacker-guess-0000000000000000000"
    )
    response = client.post("/plugins/bbb/recording-ready", data={"signed_parameters": forged})
    assert response.status_code == 401
    assert (
        client.post(
            "/plugins/bbb/recording-ready", data={"signed_parameters": "not.a.jwt"}
        ).status_code
        == 401
    )
    assert client.post("/plugins/bbb/recording-ready", data={}).status_code == 400
    unsigned = jwt.encode(
        {"meeting_id": meeting.backend_meeting_id, "record_id": record_id}, None, algorithm="none"
    )
    assert (
        client.post(
            "/plugins/bbb/recording-ready", data={"signed_parameters": unsigned}
        ).status_code
        == 401
    )
    unknown = sim.signed_parameters("no-such-meeting", record_id)
    assert (
        client.post("/plugins/bbb/recording-ready", data={"signed_parameters": unknown}).status_code
        == 410
    )
    assert _count(Recording) == 0
    assert sim.calls("getRecordings") == []  # nothing was fetched for a forged call


def test_recording_callback_while_bbb_is_down_asks_bbb_to_retry(
    school, login, sim, callbacks_to_portal, client
):
    meeting = _run_and_record(school, login, sim)
    [record_id] = sim.finish_recordings(callback=False)
    sim.http_status = 502
    token = sim.signed_parameters(meeting.backend_meeting_id, record_id)
    assert (
        client.post("/plugins/bbb/recording-ready", data={"signed_parameters": token}).status_code
        == 503
    )
    sim.http_status = None
    assert (
        client.post("/plugins/bbb/recording-ready", data={"signed_parameters": token}).status_code
        == 200
    )
    assert _count(Recording) == 1


def test_periodic_sync_without_any_callback(school, login, sim, app):
    from portal_bbb_backend.sync import sync_all

    from portal.tasks import run_job

    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    for user in (school.teacher, school.student):
        target = login(user).post(f"/api/schedules/{sid}/join").get_json()["url"]
        sim.join_browser(target)
    sim.meetings[meeting.backend_meeting_id].attendees.append(
        type(sim.meetings[meeting.backend_meeting_id].attendees[0])(
            "w_dialin", "Phone caller", "VIEWER"
        )
    )

    assert sync_all()["running"] == 1
    rows = {
        (a.user_id, a.display_name): a for a in db.session.execute(db.select(Attendance)).scalars()
    }
    assert set(rows) == {
        (school.teacher.id, "Ada Teacher"),
        (school.student.id, "Sam Student"),
        (None, "Phone caller"),
    }
    assert all(a.left_at is None for a in rows.values())

    sim.leave(meeting.backend_meeting_id, str(school.student.id))
    sync_all()
    left = db.session.execute(
        db.select(Attendance).filter_by(user_id=school.student.id)
    ).scalar_one()
    assert left.left_at is not None

    # The meeting ends on BBB and the callbacks are lost: the job still notices.
    sim.end_from_bbb(meeting.backend_meeting_id)
    sim.pending_callbacks.clear()
    [record_id] = sim.finish_recordings(callback=False)
    sim.pending_callbacks.clear()
    meeting_pk = meeting.id
    run_job("bbb-sync")  # as Celery beat / the in-process scheduler would
    meeting = db.session.get(Meeting, meeting_pk)
    assert meeting.status == "ended"
    assert db.session.execute(db.select(Recording.backend_record_id)).scalars().all() == [record_id]
    # Running the job again changes nothing.
    assert sync_all()["recordings_created"] == 0
    assert _count(Recording) == 1


def test_sync_ends_a_meeting_bbb_forgot(school, login, sim):
    from portal_bbb_backend.sync import sync_all

    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    sim.meetings.clear()  # expired: nobody joined within meetingExpireIfNoUserJoinedInMinutes
    assert sync_all()["ended"] == 1
    # The teacher can start again; BBB creates a fresh meeting.
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )
    assert sim.create_count == 2


def test_publish_unpublish_and_delete_call_bbb(school, login, sim, callbacks_to_portal):
    from portal.core.backends import backend_plugin
    from portal.core.meetings import handle_of, settings_for_meeting

    meeting = _run_and_record(school, login, sim)
    [record_id] = sim.finish_recordings()
    sim.deliver_callbacks()
    backend = backend_plugin("bbb")
    settings = settings_for_meeting(meeting)

    backend.publish_recording(settings, record_id, False)
    assert sim.recordings[record_id].state == "unpublished"
    assert sim.calls("publishRecordings")[-1].params["publish"] == "false"
    assert (
        sim.join_browser(f"{sim.origin}/playback/presentation/2.3/{record_id}").status_code == 404
    )
    backend.publish_recording(settings, record_id, True)
    assert sim.recordings[record_id].state == "published"

    backend.delete_recording(settings, record_id)
    assert sim.recordings[record_id].state == "deleted"
    backend.delete_recording(settings, record_id)  # again: already gone is fine
    assert backend.list_recordings(settings, handle_of(meeting)) == []


def test_retention_deletes_an_expired_recording_on_bbb(
    school, login, sim, callbacks_to_portal, make_user
):
    """The retention job deletes a recording older than the policy on the BBB server too
    (deleteRecordings), and keeps one of a class on legal hold."""
    from datetime import timedelta

    from portal.core import unit_of_work
    from portal.core.privacy import retention

    meeting = _run_and_record(school, login, sim)
    sim.deliver_callbacks()
    [record_id] = sim.finish_recordings()
    sim.deliver_callbacks()
    assert db.session.execute(db.select(Recording)).scalar_one().backend_record_id == record_id
    admin = make_user("admin")
    retention.update_policy(admin, {"recordings": 7})
    retention.set_legal_hold(admin, school.klass.id, True)
    later = meeting.schedule.ends_at + timedelta(days=8)
    assert retention.apply(now=later).get("recordings", 0) == 0
    assert sim.recordings[record_id].state != "deleted"

    retention.set_legal_hold(admin, school.klass.id, False)
    assert retention.apply(now=later)["recordings"] == 1
    unit_of_work.commit()
    assert sim.calls("deleteRecordings")[-1].params["recordID"] == record_id
    assert sim.recordings[record_id].state == "deleted"
    assert db.session.execute(db.select(Recording)).scalar_one_or_none() is None


def test_bbb_down_gives_503_and_nothing_half_created(school, login, sim):
    sim.close()
    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "bbb_unreachable"
    assert "not reachable" in error["message"]
    assert _count(Meeting) == 0
    assert (
        login(school.student)
        .get(f"/api/schedules/{school.schedule.id}/meeting")
        .get_json()["state"]
        == "not_started"
    )


def test_stalled_or_garbage_bbb_gives_503(school, login, sim):
    sim.stall_seconds = 5
    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "bbb_timeout"
    sim.stall_seconds = 0
    sim.garbage = True
    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "bbb_not_bbb"
    assert _count(Meeting) == 0
    sim.garbage = False
    assert (
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start").status_code == 200
    )


def test_wrong_secret_is_refused_with_a_clear_message(school, login, sim):
    from portal.core.security import encrypt_secret

    school.config.settings = {
        **school.config.settings,
        "secret": encrypt_secret("wrong-secret-123"),
    }
    db.session.commit()
    response = login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "bbb_checksumError"
    assert "refused" in error["message"] and "checksumError" in error["message"]
    assert _count(Meeting) == 0


def test_slide_bytes_are_base64_in_the_create_body(school, login, sim):
    _add_slide(school, "a.pdf", b"%PDF-1.4 tiny")
    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    body = sim.calls("create")[0].body
    assert base64.b64encode(b"%PDF-1.4 tiny") in body
    assert b'<module name="presentation">' in body


def test_sync_is_scheduled_by_celery_beat_and_runs_as_its_task(school, login, sim, app):
    celery_app = tasks.celery_of(app)
    entry = celery_app.conf.beat_schedule["periodic:bbb-sync"]
    assert entry["task"] == "portal.periodic" and entry["args"] == ("bbb-sync",)
    assert entry["schedule"] == 60.0

    login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
    meeting_pk = db.session.execute(db.select(Meeting.id)).scalar_one()
    sim.meetings.clear()
    celery_app.tasks["portal.periodic"].apply(args=("bbb-sync",)).get(timeout=30)
    db.session.expire_all()
    assert db.session.get(Meeting, meeting_pk).status == "ended"


def test_sync_with_bbb_down_keeps_meetings_running_and_tries_once_per_server(
    school, login, sim, make_user
):
    from portal_bbb_backend.sync import sync_all

    from portal.core import classes
    from portal.core.types import utcnow

    teacher = login(school.teacher)
    teacher.post(f"/api/schedules/{school.schedule.id}/start")
    other = classes.create_class(
        school.teacher, classes.ClassInput(title="Biology", starts_at=utcnow(), duration_minutes=30)
    )
    db.session.commit()
    teacher.post(f"/api/schedules/{classes.list_schedules(school.teacher, other.id)[0].id}/start")
    before = len(sim.calls("getMeetingInfo"))
    sim.http_status = 503
    outcome = sync_all()
    assert outcome["unreachable"] == 2
    assert (
        len(sim.calls("getMeetingInfo")) - before == 2
    )  # one call plus its retry, for the first meeting only
    assert sim.calls("getRecordings") == []
    assert {m.status for m in db.session.execute(db.select(Meeting)).scalars()} == {"running"}


def test_restart_while_an_older_bbb_still_holds_the_ended_meeting(school, login, sim):
    sim.linger_ended = True
    teacher = login(school.teacher)
    sid = school.schedule.id
    teacher.post(f"/api/schedules/{sid}/start")
    teacher.post(f"/api/schedules/{sid}/end")
    too_soon = teacher.post(f"/api/schedules/{sid}/start")
    assert too_soon.status_code == 503
    assert too_soon.get_json()["error"]["code"] == "bbb_meeting_closing"
    assert "try again in a minute" in too_soon.get_json()["error"]["message"]
    assert db.session.execute(db.select(Meeting.status)).scalar_one() == "ended"
    sim.forget_ended()
    restarted = teacher.post(f"/api/schedules/{sid}/start")
    assert restarted.status_code == 200
    assert sim.join_browser(restarted.get_json()["join"]["url"]).status_code == 302


def test_status_reports_attendees_and_the_end(school, login, sim):
    from portal.core.backends import backend_plugin
    from portal.core.meetings import handle_of, settings_for_meeting

    teacher = login(school.teacher)
    started = teacher.post(f"/api/schedules/{school.schedule.id}/start").get_json()
    sim.join_browser(started["join"]["url"])
    meeting = db.session.execute(db.select(Meeting)).scalar_one()
    backend, settings = backend_plugin("bbb"), settings_for_meeting(meeting)
    status = backend.status(settings, handle_of(meeting))
    assert status.running and not status.ended and status.participant_count == 1
    assert [(a.user_id, a.role) for a in status.attendees] == [(school.teacher.id, "moderator")]
    sim.end_from_bbb(meeting.backend_meeting_id)
    status = backend.status(settings, handle_of(meeting))
    assert status.ended and not status.running


@pytest.mark.real_commits  # the portal is served over HTTP from a thread
def test_callbacks_over_real_http_to_a_running_portal(app, school, login, sim):
    """No test client in between: the simulator calls a real portal HTTP server back."""
    with serving(app) as url:
        app.config["BASE_URL"] = url
        login(school.teacher).post(f"/api/schedules/{school.schedule.id}/start")
        meeting = db.session.execute(db.select(Meeting)).scalar_one()
        meeting_pk, bbb_id = meeting.id, meeting.backend_meeting_id
        assert sim.meetings[bbb_id].metadata["endcallbackurl"].startswith(app.config["BASE_URL"])
        sim.end_from_bbb(bbb_id)
        sim.finish_recordings()
        db.session.remove()  # let the server's threads write (SQLite)
        delivered = sim.deliver_callbacks()  # the default sink: real HTTP requests
        # The end callback, the learning-analytics data, the recording-ready callback.
        assert [(method, urlsplit(url).path, status) for method, url, status in delivered] == [
            ("GET", "/plugins/bbb/end", 200),
            ("POST", "/plugins/bbb/analytics", 200),
            ("POST", "/plugins/bbb/recording-ready", 200),
        ]
        assert db.session.get(Meeting, meeting_pk).status == "ended"
        assert _count(Recording) == 1


def test_teacher_publishes_unpublishes_and_deletes_through_the_portal(
    school, login, sim, callbacks_to_portal
):
    """The portal's recordings API drives BBB: students see only what BBB also publishes."""
    _run_and_record(school, login, sim)
    [record_id] = sim.finish_recordings()
    sim.deliver_callbacks()
    teacher, student = login(school.teacher), login(school.student)
    recording_id = db.session.execute(db.select(Recording.id)).scalar_one()

    hidden = teacher.post(f"/api/recordings/{recording_id}/publish", json={"published": False})
    assert hidden.status_code == 200 and hidden.get_json()["published"] is False
    assert sim.recordings[record_id].state == "unpublished"
    assert student.get(f"/api/classes/{school.klass.id}/recordings").get_json() == []
    assert student.post(
        f"/api/recordings/{recording_id}/publish", json={"published": True}
    ).status_code in (403, 404)

    shown = teacher.post(f"/api/recordings/{recording_id}/publish", json={"published": True})
    assert shown.status_code == 200 and sim.recordings[record_id].state == "published"
    assert [
        r["id"] for r in student.get(f"/api/classes/{school.klass.id}/recordings").get_json()
    ] == [recording_id]

    sim.garbage = True  # BBB broken: the portal refuses and keeps the row
    down = teacher.delete(f"/api/recordings/{recording_id}")
    assert down.status_code == 503
    assert _count(Recording) == 1 and sim.recordings[record_id].state == "published"
    sim.garbage = False
    assert teacher.delete(f"/api/recordings/{recording_id}").status_code == 204
    assert sim.recordings[record_id].state == "deleted" and _count(Recording) == 0


def test_an_admitted_guest_joins_bbb_as_a_guest_viewer(school, login, app, sim):
    """A guest from an invite link: BBB's guest=true, never a moderator, never a user's id."""
    from datetime import timedelta

    from portal.core import invites
    from portal.core.types import utcnow

    teacher = login(school.teacher)
    teacher.post(f"/api/schedules/{school.schedule.id}/start")
    _link, token = invites.create_link(
        school.teacher, school.klass.id, expires_at=utcnow() + timedelta(hours=1)
    )
    db.session.commit()
    guest = app.test_client()
    guest_id = guest.post(f"/api/invite/{token}/enter", json={"name": "Ines Inspector"}).get_json()[
        "guest_id"
    ]
    guest.post(f"/api/guest/schedules/{school.schedule.id}/knock")
    teacher.post(f"/api/schedules/{school.schedule.id}/lobby/admit", json={"guest_ids": [guest_id]})
    joined = guest.post(f"/api/guest/schedules/{school.schedule.id}/join")
    assert joined.status_code == 200, joined.get_json()
    params = _query(joined.get_json()["url"])
    assert params["guest"] == "true" and params["role"] == "VIEWER"
    assert params["fullName"] == "Ines Inspector (guest)"
    assert params["userID"] == str(-guest_id)
    assert sim.join_browser(joined.get_json()["url"]).status_code == 302
