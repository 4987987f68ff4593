"""Assignment and Grade Services 2.0: after each occurrence of a linked class, every LMS
learner's attendance (minutes present out of the occurrence's minutes) is posted as a score
to the class's line item in the LMS gradebook, by a background job that retries while the
LMS is down or answers 5xx."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from sqlalchemy import select, update

from portal.plugins import ClassInfo, ScheduleInfo, services
from portal_lti import tool
from portal_lti.models import LtiPendingScore, LtiResourceLink, LtiRosterMember

log = logging.getLogger(__name__)

AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
JOB = "lti-post-scores"
# While a job posts a score, no other worker takes it (a crashed worker's claim lapses).
CLAIM_SECONDS = 300
MAX_RETRY_SECONDS = 3600


def remember_grade_service(link: LtiResourceLink, claims: dict[str, Any]) -> None:
    """Keep the course's line items container when the launch offers scores to this tool."""
    endpoint = claims.get(AGS_CLAIM)
    if not isinstance(endpoint, dict):
        return
    scopes = [s for s in endpoint.get("scope") or [] if isinstance(s, str)]
    url = endpoint.get("lineitems")
    if isinstance(url, str) and SCORE_SCOPE in scopes and LINEITEM_SCOPE in scopes:
        link.lineitems_url, link.ags_scopes = url, scopes


def queue_scores(klass: ClassInfo, schedule: ScheduleInfo) -> int:
    """One pending score per LMS learner of each link of the class for this occurrence
    (once, however often the class_ended event arrives). Does not commit."""
    links = services.session().execute(
        select(LtiResourceLink).where(
            LtiResourceLink.class_id == klass.id, LtiResourceLink.lineitems_url.is_not(None)
        )
    )
    queued = 0
    for link in links.scalars().all():
        minutes = services.minutes_present(schedule.id)
        maximum = max(1, int((schedule.ends_at - schedule.starts_at).total_seconds() // 60))
        learners = services.session().execute(
            select(LtiRosterMember).where(LtiRosterMember.link_id == link.id)
        )
        done = set(
            services.session()
            .execute(
                select(LtiPendingScore.user_id).where(
                    LtiPendingScore.link_id == link.id,
                    LtiPendingScore.schedule_id == schedule.id,
                )
            )
            .scalars()
        )
        for learner in learners.scalars().all():
            if learner.user_id in done:
                continue
            services.session().add(
                LtiPendingScore(
                    link_id=link.id,
                    schedule_id=schedule.id,
                    user_id=learner.user_id,
                    lti_sub=learner.lti_sub,
                    score_given=min(minutes.get(learner.user_id, 0), maximum),
                    score_maximum=maximum,
                )
            )
            queued += 1
    if queued:
        services.enqueue_job(JOB)
    return queued


def _claim_due() -> list[int]:
    """Take the due scores for this worker: a conditional update per row, so two workers
    never post the same score."""
    now = services.now()
    claimed: list[int] = []
    with services.unit_of_work():
        due = services.session().execute(
            select(LtiPendingScore.id).where(
                LtiPendingScore.state == "pending", LtiPendingScore.next_attempt_at <= now
            )
        )
        for score_id in due.scalars().all():
            taken = services.session().execute(
                update(LtiPendingScore)
                .where(
                    LtiPendingScore.id == score_id,
                    LtiPendingScore.state == "pending",
                    LtiPendingScore.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
            )
            if taken.rowcount:
                claimed.append(score_id)
    return claimed


def _grade_service(link: LtiResourceLink) -> AssignmentsGradesService:
    # pylti1p3 types the scopes as a Literal list; the LMS sends plain strings.
    service_data: Any = {"scope": list(link.ags_scopes or []), "lineitems": link.lineitems_url}
    return AssignmentsGradesService(
        tool.service_connector(tool.get_platform(link.platform_id)), service_data
    )


def _lineitem(service: AssignmentsGradesService, link: LtiResourceLink, maximum: int) -> str:
    """The class's line item, created once (found again by resourceLinkId if the portal
    lost its URL)."""
    if link.lineitem_url:
        return link.lineitem_url
    klass = services.get_class(link.class_id)
    wanted = (
        LineItem()
        .set_label(f"Attendance: {klass.title if klass else 'class'}"[:200])
        .set_score_maximum(maximum)
        .set_resource_link_id(link.resource_link_id)
        .set_tag("portal-attendance")
    )
    found = service.find_or_create_lineitem(wanted, find_by="resource_link_id")
    url = found.get_id()
    if not url:
        raise LtiException("the LMS created a line item without an id")
    link.lineitem_url = url
    return url


def _post(score: LtiPendingScore) -> None:
    link = services.session().get(LtiResourceLink, score.link_id)
    if link is None or not link.lineitems_url:
        raise LtiException("the activity no longer offers grades to the portal")
    service = _grade_service(link)
    lineitem_url = _lineitem(service, link, score.score_maximum)
    grade = (
        Grade()
        .set_score_given(score.score_given)
        .set_score_maximum(score.score_maximum)
        .set_timestamp(services.now().isoformat())
        .set_activity_progress("Completed")
        .set_grading_progress("FullyGraded")
        .set_user_id(score.lti_sub)
    )
    service.put_grade(grade, LineItem({"id": lineitem_url}))


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, LtiServiceException):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, requests.RequestException)


def post_pending_scores() -> int:
    """The background job: post every due score; an LMS that is down or answers 5xx gets
    the score again later (backing off), one that refuses it (4xx) marks it refused.
    Returns how many were posted."""
    posted = 0
    for score_id in _claim_due():
        with services.unit_of_work():
            score = services.session().get(LtiPendingScore, score_id)
            if score is None or score.state != "pending":
                continue
            score.attempts += 1
            try:
                _post(score)
            except (LtiException, requests.RequestException, ValueError, KeyError) as exc:
                score.last_error = str(exc)[:500]
                if _retryable(exc):
                    wait = min(60 * 2 ** (score.attempts - 1), MAX_RETRY_SECONDS)
                    score.next_attempt_at = services.now() + timedelta(seconds=wait)
                else:
                    score.state = "refused"
                log.warning("lti score %s not posted: %s", score.id, exc)
                continue
            score.state, score.sent_at, score.last_error = "sent", services.now(), None
            posted += 1
    return posted


def scores_of_class(class_id: int) -> list[LtiPendingScore]:
    """What the portal posted (or still tries to post) for the class, newest first."""
    return list(
        services.session()
        .execute(
            select(LtiPendingScore)
            .join(LtiResourceLink, LtiResourceLink.id == LtiPendingScore.link_id)
            .where(LtiResourceLink.class_id == class_id)
            .order_by(LtiPendingScore.id.desc())
        )
        .scalars()
    )


def sends_grades(class_id: int) -> bool:
    """Is the class linked to an LMS activity that takes its attendance as scores?"""
    found = services.session().execute(
        select(LtiResourceLink.id)
        .where(LtiResourceLink.class_id == class_id, LtiResourceLink.lineitems_url.is_not(None))
        .limit(1)
    )
    return found.first() is not None
