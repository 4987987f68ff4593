"""Ratings (1-5 stars) and comments on class occurrences and recordings.

One per user per occurrence and per recording (the table's unique constraints); giving it
again edits it. Only students enrolled in the class or who attended may rate, never the
class's teacher; teachers and admins see averages and the distribution but cannot change
anyone's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError

from portal.core import access, audit
from portal.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.core.models import (
    Attendance,
    Class,
    ClassStatus,
    Feedback,
    Meeting,
    MeetingState,
    Recording,
    RecordingVisibility,
    Role,
    Schedule,
    ScheduleStatus,
    User,
)
from portal.core.recordings import at_least
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext

MAX_COMMENT = 5000


def _check_values(rating: int, comment: str) -> str:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationFailed("rating must be a whole number from 1 to 5", code="invalid_rating")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise ValidationFailed(
            gettext("the comment may have at most %(count)s characters", count=MAX_COMMENT)
        )
    return comment


def _attended(user: User, *, schedule_id: int | None = None, class_id: int | None = None) -> bool:
    stmt = (
        db.select(Attendance.id)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Attendance.user_id == user.id)
    )
    if schedule_id is not None:
        stmt = stmt.where(Meeting.schedule_id == schedule_id)
    if class_id is not None:
        stmt = stmt.join(Schedule, Schedule.id == Meeting.schedule_id).where(
            Schedule.class_id == class_id
        )
    return db.session.execute(stmt.limit(1)).first() is not None


def _require_rater(actor: User, klass: Class, attended: bool) -> None:
    """Enrolled or attended, not the class's teachers or assistants, not blocked; 404 for
    strangers."""
    if access.can_moderate_class(actor, klass):
        raise Forbidden(
            "teachers and administrators cannot rate their own classes",
            code="cannot_rate_own_class",
        )
    if not (access.is_enrolled(actor, klass.id) or attended):
        raise NotFound("no such class occurrence")
    access.require_not_blocked(actor, klass.id)


def _upsert(
    actor: User, klass: Class, rating: int, comment: str, **target: int
) -> tuple[Feedback, bool]:
    row = db.session.execute(
        db.select(Feedback).filter_by(user_id=actor.id, **target)
    ).scalar_one_or_none()
    created = row is None
    if row is None:
        row = Feedback(
            user_id=actor.id, class_id=klass.id, rating=rating, comment=comment, **target
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            # A second request of the same user won the race: edit what it created.
            row = db.session.execute(
                db.select(Feedback).filter_by(user_id=actor.id, **target)
            ).scalar_one()
            created = False
    row.rating = rating
    row.comment = comment
    row.updated_at = utcnow()
    db.session.flush()
    what, target_id = next(iter(target.items()))
    audit.record(
        actor,
        "feedback.create" if created else "feedback.update",
        "feedback",
        row.id,
        **{what: target_id},
        rating=rating,
    )
    return row, created


def rate_occurrence(
    actor: User, schedule_id: int, rating: int, comment: str = ""
) -> tuple[Feedback, bool]:
    comment = _check_values(rating, comment)
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("no such class occurrence")
    klass = schedule.klass
    _require_rater(actor, klass, _attended(actor, schedule_id=schedule.id))
    if (
        schedule.status == ScheduleStatus.CANCELLED.value
        or klass.status == ClassStatus.CANCELLED.value
    ):
        raise Conflict("this class occurrence was cancelled", code="class_cancelled")
    if schedule.starts_at > utcnow():
        raise Conflict("you can rate a class once it has started", code="not_started")
    return _upsert(actor, klass, rating, comment, schedule_id=schedule.id)


def occurrences_to_rate(student: User, limit: int = 5) -> list[Schedule]:
    """Ended occurrences the student attended and has not rated yet, newest first: what the
    dashboard asks them to rate (the same people rate_occurrence accepts)."""
    if student.role != Role.STUDENT.value:
        return []
    attended = (
        db.select(Meeting.schedule_id)
        .join(Attendance, Attendance.meeting_id == Meeting.id)
        .where(Attendance.user_id == student.id)
    )
    rated = db.select(Feedback.schedule_id).where(
        Feedback.user_id == student.id, Feedback.schedule_id.is_not(None)
    )
    ended = db.select(Meeting.schedule_id).where(Meeting.status == MeetingState.ENDED.value)
    rows = db.session.execute(
        db.select(Schedule)
        .join(Class, Class.id == Schedule.class_id)
        .where(
            Schedule.id.in_(attended),
            Schedule.id.not_in(rated),
            or_(Schedule.ends_at <= utcnow(), Schedule.id.in_(ended)),
            Schedule.status == ScheduleStatus.SCHEDULED.value,
            Class.status == ClassStatus.ACTIVE.value,
        )
        .order_by(Schedule.starts_at.desc())
        .limit(limit)
    ).scalars()
    schedules = list(rows)
    blocked = access.blocked_from(student, {s.class_id for s in schedules})
    return [s for s in schedules if s.class_id not in blocked]


def rate_recording(
    actor: User, recording_id: int, rating: int, comment: str = ""
) -> tuple[Feedback, bool]:
    comment = _check_values(rating, comment)
    recording = db.session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("no such recording")
    klass = db.session.get_one(Class, recording.class_id)
    _require_rater(actor, klass, _attended(actor, class_id=klass.id))
    if not at_least(recording, RecordingVisibility.MEMBERS):
        raise NotFound("no such recording")
    return _upsert(actor, klass, rating, comment, recording_id=recording.id)


def edit_feedback(
    actor: User, feedback_id: int, rating: int | None = None, comment: str | None = None
) -> Feedback:
    """Only the author edits their feedback; teachers and admins never change a student's words."""
    row = db.session.get(Feedback, feedback_id)
    if row is None:
        raise NotFound("no such feedback")
    if row.user_id != actor.id:
        klass = access.get_class_for(actor, row.class_id)  # 404 for strangers
        if access.can_manage_class(actor, klass):
            raise Forbidden(
                "feedback can only be changed by the person who gave it", code="not_author"
            )
        raise NotFound("no such feedback")
    klass = db.session.get_one(Class, row.class_id)
    access.require_not_blocked(actor, klass.id)
    new_rating = row.rating if rating is None else rating
    new_comment = _check_values(new_rating, row.comment if comment is None else comment)
    row.rating, row.comment = new_rating, new_comment
    row.updated_at = utcnow()
    audit.record(actor, "feedback.update", "feedback", row.id, rating=new_rating)
    return row


def delete_feedback(actor: User, feedback_id: int) -> None:
    """The author withdraws it; an admin may remove it (moderation, audit-logged)."""
    row = db.session.get(Feedback, feedback_id)
    if row is None:
        raise NotFound("no such feedback")
    if row.user_id != actor.id and not actor.is_admin:
        klass = access.get_class_for(actor, row.class_id)
        if access.can_manage_class(actor, klass):
            raise Forbidden(
                "feedback can only be removed by the person who gave it or an administrator",
                code="not_author",
            )
        raise NotFound("no such feedback")
    audit.record(actor, "feedback.delete", "feedback", row.id, author_id=row.user_id)
    db.session.delete(row)


def my_feedback(
    actor: User, *, schedule_id: int | None = None, recording_id: int | None = None
) -> Feedback | None:
    target = (
        {"schedule_id": schedule_id} if schedule_id is not None else {"recording_id": recording_id}
    )
    return db.session.execute(
        db.select(Feedback).filter_by(user_id=actor.id, **target)
    ).scalar_one_or_none()


@dataclass
class Summary:
    count: int = 0
    average: float | None = None
    distribution: dict[str, int] = field(default_factory=lambda: {str(n): 0 for n in range(1, 6)})
    items: list[dict[str, Any]] = field(default_factory=list)


def summary(
    actor: User,
    class_id: int,
    *,
    schedule_id: int | None = None,
    recording_id: int | None = None,
    include_items: bool = True,
) -> Summary:
    """Average and 1..5 distribution for the class's teacher and admins."""
    klass = access.get_class_for(actor, class_id)
    access.require_class_manager(actor, klass)
    stmt = (
        db.select(Feedback, User)
        .join(User, User.id == Feedback.user_id)
        .where(Feedback.class_id == klass.id)
    )
    if schedule_id is not None:
        stmt = stmt.where(Feedback.schedule_id == schedule_id)
    if recording_id is not None:
        stmt = stmt.where(Feedback.recording_id == recording_id)
    result = Summary()
    total = 0
    for row, user in db.session.execute(stmt.order_by(Feedback.id)):
        result.count += 1
        total += row.rating
        result.distribution[str(row.rating)] += 1
        if include_items:
            result.items.append(
                {
                    "id": row.id,
                    "user_id": user.id,
                    "user_name": user.name,
                    "rating": row.rating,
                    "comment": row.comment,
                    "schedule_id": row.schedule_id,
                    "recording_id": row.recording_id,
                    "updated_at": row.updated_at,
                }
            )
    if result.count:
        result.average = round(total / result.count, 2)
    return result
