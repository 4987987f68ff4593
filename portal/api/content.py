"""Slides, class media, recordings, feedback and attendance endpoints."""

from __future__ import annotations

from flask import request

from portal.api import api
from portal.api.content_schemas import (
    AttendanceReportOut,
    AttendanceRowOut,
    CsvQuery,
    DownloadOut,
    FeedbackEditIn,
    FeedbackIn,
    FeedbackOut,
    FeedbackSummaryOut,
    MediaOut,
    MediaQuery,
    PublishIn,
    RecordingJobOut,
    RecordingOut,
    RecordingOutList,
    ShareLinkOut,
    SlideOrderIn,
    SlideOut,
    VisibilityIn,
    VisibilityOut,
)
from portal.api.framework import current_actor, endpoint
from portal.api.limits import upload_limit
from portal.api.schemas import Out
from portal.core import attendance, classes, feedback, media, recording_jobs, recordings, slides
from portal.core.errors import NotFound, ValidationFailed
from portal.core.recordings import RecordingView
from portal.core.slides import DownloadLink
from portal.features import serve_features


def _upload_form(**extra: dict) -> dict:
    """The OpenAPI schema of an upload: the file, plus optional form fields."""
    return {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}, **extra},
    }


def _uploaded_file() -> tuple[str | None, bytes]:
    """The multipart field `file`: (client file name, bytes). The name is only for display."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(
            "send the file as multipart/form-data in a field named 'file'", code="file_missing"
        )
    return upload.filename, upload.read()


def _download(link: DownloadLink) -> DownloadOut:
    return DownloadOut(url=link.url, expires_at=link.expires_at, filename=link.filename)


def _recording(view: RecordingView) -> Out:
    return RecordingOut.model_validate(view)


# Slides


@endpoint(
    api,
    "/classes/<int:class_id>/slides",
    summary="Slide decks of a class, in order",
    response=list[SlideOut],
    tags=["slides"],
)
def list_slides(class_id: int):
    return [SlideOut.model_validate(s) for s in slides.list_slides(current_actor(), class_id)]


@endpoint(
    api,
    "/classes/<int:class_id>/slides",
    "POST",
    summary="Upload a PDF slide deck (multipart field 'file'; teacher)",
    response=SlideOut,
    status=201,
    tags=["slides"],
    errors=[403, 413, 429],
    decorators=[upload_limit],
    form=_upload_form(),
)
def upload_slide(class_id: int):
    filename, data = _uploaded_file()
    return SlideOut.model_validate(slides.upload_slide(current_actor(), class_id, filename, data))


@endpoint(
    api,
    "/classes/<int:class_id>/slides/order",
    "PUT",
    summary="Reorder the slide decks (teacher)",
    body=SlideOrderIn,
    response=list[SlideOut],
    tags=["slides"],
)
def reorder_slides(class_id: int, body: SlideOrderIn):
    return [
        SlideOut.model_validate(s)
        for s in slides.reorder_slides(current_actor(), class_id, body.slide_ids)
    ]


@endpoint(
    api,
    "/slides/<int:slide_id>",
    "DELETE",
    summary="Delete a slide deck (teacher)",
    tags=["slides"],
)
def delete_slide(slide_id: int):
    slides.delete_slide(current_actor(), slide_id)


@endpoint(
    api,
    "/slides/<int:slide_id>/download",
    summary="A time-limited download link for a slide deck",
    response=DownloadOut,
    tags=["slides"],
)
def download_slide(slide_id: int):
    return _download(slides.download_slide(current_actor(), slide_id))


# Media


@endpoint(
    api,
    "/classes/<int:class_id>/media",
    summary="Files shared in a class",
    query=MediaQuery,
    response=list[MediaOut],
    tags=["media"],
)
def list_media(class_id: int, query: MediaQuery):
    return [
        MediaOut.model_validate(m)
        for m in media.list_media(current_actor(), class_id, query.schedule_id)
    ]


@endpoint(
    api,
    "/classes/<int:class_id>/media",
    "POST",
    summary="Share a file in a class (multipart field 'file', optional form field 'schedule_id')",
    response=MediaOut,
    status=201,
    tags=["media"],
    errors=[403, 413, 429],
    decorators=[upload_limit],
    form=_upload_form(schedule_id={"type": "string", "pattern": "^[0-9]{0,9}$"}),
)
def upload_media(class_id: int):
    filename, data = _uploaded_file()
    raw_schedule = request.form.get("schedule_id")
    try:
        schedule_id = int(raw_schedule) if raw_schedule else None
    except ValueError as exc:
        raise ValidationFailed("schedule_id must be a number") from exc
    return MediaOut.model_validate(
        media.upload_media(current_actor(), class_id, filename, data, schedule_id)
    )


@endpoint(
    api,
    "/media/<int:media_id>/download",
    summary="A time-limited download link for a shared file",
    response=DownloadOut,
    tags=["media"],
)
def download_media(media_id: int):
    return _download(media.download_media(current_actor(), media_id))


@endpoint(
    api,
    "/media/<int:media_id>",
    "DELETE",
    summary="Remove a shared file (uploader or teacher)",
    tags=["media"],
)
def delete_media(media_id: int):
    media.delete_media(current_actor(), media_id)


# Recordings


@endpoint(
    api,
    "/recordings",
    summary="Recordings you may watch, across your classes",
    response=RecordingOutList,
    tags=["recordings"],
)
def my_recordings():
    return [_recording(v) for v in recordings.list_for_user(current_actor())]


@endpoint(
    api,
    "/users/<int:user_id>/recordings",
    summary="Recordings a user may watch (themselves or admins)",
    response=RecordingOutList,
    tags=["recordings"],
)
def user_recordings(user_id: int):
    return [_recording(v) for v in recordings.list_for_student(current_actor(), user_id)]


@endpoint(
    api,
    "/classes/<int:class_id>/recordings",
    summary="Recordings of a class (students: the published ones)",
    response=RecordingOutList,
    tags=["recordings"],
)
def class_recordings(class_id: int):
    return [_recording(v) for v in recordings.list_for_class(current_actor(), class_id)]


@endpoint(
    api,
    "/classes/<int:class_id>/recording-jobs",
    summary="Occurrences whose recording is being prepared or failed (the class's teachers)",
    response=list[RecordingJobOut],
    tags=["recordings"],
)
def class_recording_jobs(class_id: int):
    jobs = recording_jobs.list_for_class(current_actor(), class_id)
    return [RecordingJobOut.model_validate(job) for job in jobs]


@endpoint(
    api,
    "/schedules/<int:schedule_id>/recording-job/retry",
    "POST",
    summary="Prepare a failed recording again (the class's teachers; the backend must support it)",
    response=RecordingJobOut,
    status=202,
    tags=["recordings"],
    errors=[409, 503],
)
def retry_recording_job(schedule_id: int):
    return RecordingJobOut.model_validate(recording_jobs.retry(current_actor(), schedule_id))


@endpoint(
    api,
    "/recordings/<int:recording_id>",
    summary="One recording",
    response=RecordingOut,
    tags=["recordings"],
)
def get_recording(recording_id: int):
    return _recording(
        recordings.view_of(recordings.get_recording_for(current_actor(), recording_id))
    )


@endpoint(
    api,
    "/recordings/<int:recording_id>/download",
    summary="A time-limited link to a stored recording file",
    response=DownloadOut,
    tags=["recordings"],
)
def download_recording(recording_id: int):
    return _download(recordings.download_recording(current_actor(), recording_id))


@endpoint(
    api,
    "/recordings/<int:recording_id>/publish",
    "POST",
    summary="Publish or unpublish a recording (teacher; also on the backend)",
    body=PublishIn,
    response=RecordingOut,
    tags=["recordings"],
    errors=[503],
)
def publish_recording(recording_id: int, body: PublishIn):
    row = recordings.set_published(current_actor(), recording_id, body.published)
    return _recording(recordings.view_of(row))


@endpoint(
    api,
    "/recordings/<int:recording_id>/visibility",
    "PUT",
    summary="Who may watch a recording (teacher; also on the backend)",
    body=VisibilityIn,
    response=VisibilityOut,
    tags=["recordings"],
    errors=[503],
)
def set_recording_visibility(recording_id: int, body: VisibilityIn):
    row, link = recordings.set_visibility(current_actor(), recording_id, body.visibility)
    return VisibilityOut(
        recording=_recording(recordings.view_of(row)),
        share_link=ShareLinkOut.model_validate(link) if link else None,
    )


@endpoint(
    api,
    "/recordings/<int:recording_id>/share-link",
    "POST",
    summary="A new share link for a 'link' recording (teacher); the previous one stops working",
    response=ShareLinkOut,
    status=201,
    tags=["recordings"],
)
def renew_recording_share_link(recording_id: int):
    return ShareLinkOut.model_validate(recordings.renew_share_link(current_actor(), recording_id))


@endpoint(
    api,
    "/recordings/<int:recording_id>/share-link",
    "DELETE",
    summary="Revoke a recording's share link (teacher)",
    tags=["recordings"],
)
def revoke_recording_share_link(recording_id: int):
    recordings.revoke_share_link(current_actor(), recording_id)


@endpoint(
    api,
    "/shared-recordings/<token>",
    summary="The recording a share link opens (no sign-in needed)",
    response=RecordingOut,
    auth=False,
    tags=["recordings"],
)
def shared_recording(token: str):
    return _recording(recordings.view_of(recordings.get_shared_recording(token)))


@endpoint(
    api,
    "/shared-recordings/<token>/download",
    summary="A time-limited link to the file of a recording shared by link",
    response=DownloadOut,
    auth=False,
    tags=["recordings"],
)
def shared_recording_download(token: str):
    return _download(recordings.download_shared(token))


@endpoint(
    api,
    "/recordings/<int:recording_id>",
    "DELETE",
    summary="Delete a recording (teacher; also on the backend)",
    tags=["recordings"],
    errors=[503],
)
def delete_recording(recording_id: int):
    recordings.delete_recording(current_actor(), recording_id)


# Feedback


@endpoint(
    api,
    "/schedules/<int:schedule_id>/feedback",
    "PUT",
    summary="Rate a class occurrence you were enrolled in or attended (creates or edits yours)",
    body=FeedbackIn,
    response=FeedbackOut,
    tags=["feedback"],
    errors=[403, 409],
)
def rate_occurrence(schedule_id: int, body: FeedbackIn):
    row, created = feedback.rate_occurrence(current_actor(), schedule_id, body.rating, body.comment)
    return FeedbackOut.model_validate(row).model_dump(mode="json"), 201 if created else 200


@endpoint(
    api,
    "/schedules/<int:schedule_id>/feedback/mine",
    summary="Your feedback on an occurrence",
    response=FeedbackOut,
    tags=["feedback"],
)
def my_occurrence_feedback(schedule_id: int):
    row = feedback.my_feedback(current_actor(), schedule_id=schedule_id)
    if row is None:
        raise NotFound("you have not rated this class occurrence")
    return FeedbackOut.model_validate(row)


@endpoint(
    api,
    "/schedules/<int:schedule_id>/feedback/summary",
    summary="Average, distribution and comments for an occurrence (teacher, admin)",
    response=FeedbackSummaryOut,
    tags=["feedback"],
)
def occurrence_feedback_summary(schedule_id: int):
    actor = current_actor()
    schedule = classes.get_schedule_for(actor, schedule_id)
    return FeedbackSummaryOut.model_validate(
        feedback.summary(actor, schedule.class_id, schedule_id=schedule.id)
    )


@endpoint(
    api,
    "/recordings/<int:recording_id>/feedback",
    "PUT",
    summary="Rate a recording of a class you are enrolled in (creates or edits yours)",
    body=FeedbackIn,
    response=FeedbackOut,
    tags=["feedback"],
    errors=[403],
)
def rate_recording(recording_id: int, body: FeedbackIn):
    row, created = feedback.rate_recording(current_actor(), recording_id, body.rating, body.comment)
    return FeedbackOut.model_validate(row).model_dump(mode="json"), 201 if created else 200


@endpoint(
    api,
    "/recordings/<int:recording_id>/feedback/summary",
    summary="Average, distribution and comments for a recording (teacher, admin)",
    response=FeedbackSummaryOut,
    tags=["feedback"],
)
def recording_feedback_summary(recording_id: int):
    actor = current_actor()
    row = recordings.get_recording_for(actor, recording_id)
    return FeedbackSummaryOut.model_validate(
        feedback.summary(actor, row.class_id, recording_id=row.id)
    )


@endpoint(
    api,
    "/classes/<int:class_id>/feedback/summary",
    summary="Average and distribution over all of a class's feedback (teacher, admin)",
    response=FeedbackSummaryOut,
    tags=["feedback"],
)
def class_feedback_summary(class_id: int):
    return FeedbackSummaryOut.model_validate(feedback.summary(current_actor(), class_id))


@endpoint(
    api,
    "/feedback/<int:feedback_id>",
    "PATCH",
    summary="Edit your own feedback",
    body=FeedbackEditIn,
    response=FeedbackOut,
    tags=["feedback"],
    errors=[403],
)
def edit_feedback(feedback_id: int, body: FeedbackEditIn):
    return FeedbackOut.model_validate(
        feedback.edit_feedback(current_actor(), feedback_id, body.rating, body.comment)
    )


@endpoint(
    api,
    "/feedback/<int:feedback_id>",
    "DELETE",
    summary="Withdraw your feedback (admins: remove any)",
    tags=["feedback"],
    errors=[403],
)
def delete_feedback(feedback_id: int):
    feedback.delete_feedback(current_actor(), feedback_id)


# Attendance


@endpoint(
    api,
    "/schedules/<int:schedule_id>/attendance",
    summary="Attendance report of an occurrence (teacher, admin)",
    response=AttendanceReportOut,
    tags=["attendance"],
)
def attendance_report(schedule_id: int):
    result = attendance.report(current_actor(), schedule_id)
    return AttendanceReportOut(
        schedule_id=result.schedule_id,
        class_id=result.class_id,
        title=result.title,
        starts_at=result.starts_at,
        ends_at=result.ends_at,
        source=result.source,
        present_count=result.present_count,
        here_now_count=result.here_now_count,
        rows=[AttendanceRowOut(**row.__dict__) for row in result.rows],
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/attendance.csv",
    summary="Attendance report as CSV (teacher, admin)",
    query=CsvQuery,
    tags=["attendance"],
    errors=[403, 404],
    produces={"text/csv": {"type": "string"}},
)
def attendance_csv(schedule_id: int, query: CsvQuery):
    from portal.core.calendar import display_zone

    actor = current_actor()
    result, body = attendance.csv_download(actor, schedule_id, display_zone(actor, query.timezone))
    filename = f"attendance-{result.class_id}-{result.schedule_id}-{result.starts_at:%Y%m%d}.csv"
    return (
        body,
        200,
        {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


serve_features(
    api,
    "media",
    "media_upload",
    "attendance",
    "feedback",
    "feedback_mine",
    "feedback_summary",
    "slides",
    "slides_upload",
    "recordings",
    "recordings_publish",
)
