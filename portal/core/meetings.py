"""Starting, joining and ending class occurrences on their meeting backend.

Start is safe under concurrency: the unique meeting row per occurrence is the lock, so
however many teachers' clicks and students' joins race, the backend creates the meeting
once. A failed create removes the row again: nothing is left half-created.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import current_app
from sqlalchemy.exc import IntegrityError

from portal.core import access, invites, live_state, lobby, room_settings, signals, unit_of_work
from portal.core.backends import (
    BackendCallFailed,
    backend_plugin,
    call_backend,
    config_for_class,
    effective_settings,
)
from portal.core.errors import Conflict, NotFound, PortalError, ServiceUnavailable
from portal.core.models import (
    Attendance,
    BackendConfig,
    Class,
    ClassStatus,
    Enrolment,
    Guest,
    Meeting,
    MeetingState,
    Recording,
    Schedule,
    ScheduleStatus,
    Slide,
    User,
)
from portal.core.recordings import initial_visibility
from portal.core.registry import hook, implemented
from portal.core.settings import get_setting
from portal.core.snapshots import (
    class_info,
    meeting_record,
    portal_role,
    recording_ref,
    schedule_info,
    user_info,
)
from portal.core.types import utcnow
from portal.core.upsert import insert_with_conflicts, rows_matched
from portal.extensions import db
from portal.i18n import gettext
from portal.plugins.types import (
    BatchJoiningBackend,
    JoinTarget,
    MeetingBackend,
    MeetingHandle,
    MeetingRecord,
    MeetingSpec,
    Participant,
    RecordingInfo,
    SlideRef,
)

log = logging.getLogger(__name__)

# How early before the scheduled start a teacher may start, and how late after the end.
START_EARLY = timedelta(minutes=30)
START_LATE = timedelta(hours=2)
# A 'starting' row older than this belongs to a crashed process and may be taken over.
STALE_START = timedelta(seconds=60)


def join_opens_at(schedule: Schedule, manager: bool) -> datetime:
    """When this occurrence's room opens for this person: the one rule pages read and join enforces.

    Students may join from JOIN_OPENS_MINUTES (default 10) before the start; the teacher (or an
    admin) may start, and so open the room, from START_EARLY before.
    """
    return _opens_at(schedule.starts_at, manager)


def _opens_at(starts_at: datetime, manager: bool) -> datetime:
    return starts_at - join_opens_before(manager)


def join_opens_before(manager: bool) -> timedelta:
    """How long before the start the room opens for this person (for pages listing many
    occurrences)."""
    if manager:
        return START_EARLY
    return timedelta(minutes=int(current_app.config.get("JOIN_OPENS_MINUTES", 10)))


def meeting_key(schedule: Schedule) -> str:
    """Stable, unguessable id of an occurrence's meeting, unique per installation."""
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hashlib.sha256(secret + f":meeting:{schedule.id}".encode()).hexdigest()[:20]
    return f"portal-{schedule.class_id}-{schedule.id}-{digest}"


def handle_of(meeting: Meeting) -> MeetingHandle:
    return MeetingHandle(
        backend=meeting.backend,
        meeting_id=meeting.backend_meeting_id or "",
        data=dict(meeting.data or {}),
    )


def _participant(user: User, klass: Class) -> Participant:
    role: Literal["moderator", "viewer"] = (
        "moderator" if access.can_manage_class(user, klass) else "viewer"
    )
    return Participant(
        user_id=user.id, name=user.name, email=user.email, role=role, portal_role=portal_role(user)
    )


def _slide_refs(klass: Class) -> list[SlideRef]:
    from portal.core import storage

    slides = db.session.execute(
        db.select(Slide).filter_by(class_id=klass.id).order_by(Slide.position, Slide.id)
    ).scalars()
    refs = []
    for slide in slides:
        key = slide.storage_key
        refs.append(
            SlideRef(
                filename=slide.filename,
                size_bytes=slide.size_bytes,
                url=storage.public_url(key, expires_in=3600),
                read=lambda key=key: storage.read_bytes(key),
            )
        )
    return refs


def _spec(schedule: Schedule, klass: Class, teacher: User) -> MeetingSpec:
    base = current_app.config["BASE_URL"].rstrip("/")
    return MeetingSpec(
        meeting_key=meeting_key(schedule),
        class_id=klass.id,
        schedule_id=schedule.id,
        title=klass.title,
        description=klass.description or "",
        starts_at=schedule.starts_at,
        ends_at=schedule.ends_at,
        record=klass.record,
        teacher=_participant(teacher, klass),
        slides=_slide_refs(klass),
        portal_url=f"{base}/classes/{klass.id}",
        callback_urls={"base": base},
        expected_participants=1
        + db.session.execute(
            db.select(db.func.count(Enrolment.id)).where(Enrolment.class_id == klass.id)
        ).scalar_one(),
        site_name=get_setting("school_name") or "",
        room=room_settings.for_class(klass),
        waiting_room=lobby.waiting_room_on(klass),
    )


def _current_meeting(schedule_id: int) -> Meeting | None:
    # Its backend configuration comes along: joining, ending and checking need it.
    return db.session.execute(
        db.select(Meeting)
        .filter_by(schedule_id=schedule_id)
        .options(db.joinedload(Meeting.backend_config))
    ).scalar_one_or_none()


def _check_startable(schedule: Schedule, now: datetime) -> None:
    klass = schedule.klass
    if (
        klass.status == ClassStatus.CANCELLED.value
        or schedule.status == ScheduleStatus.CANCELLED.value
    ):
        raise Conflict("this class occurrence is cancelled", code="class_cancelled")
    if now < schedule.starts_at - START_EARLY:
        raise Conflict(
            "this class can be started from 30 minutes before its start time", code="too_early"
        )
    if now > schedule.ends_at + START_LATE:
        raise Conflict("this class occurrence is over", code="too_late")


def start_class(actor: User, schedule_id: int) -> tuple[Meeting, JoinTarget]:
    """The teacher (or an admin) starts an occurrence and gets their own join target."""
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or not access.is_member(actor, schedule.klass):
        raise NotFound("no such class occurrence")
    klass = schedule.klass
    access.require_class_manager(actor, klass)
    meeting = _current_meeting(schedule.id)
    if meeting is not None and meeting.status == MeetingState.RUNNING.value:
        return meeting, _join_target(meeting, actor, klass)
    _check_startable(schedule, utcnow())
    config = config_for_class(klass)
    meeting = _claim_and_create(schedule, klass, config, actor)
    return meeting, _join_target(meeting, actor, klass)


def _claim_and_create(
    schedule: Schedule, klass: Class, config: BackendConfig, actor: User
) -> Meeting:
    deadline = time.monotonic() + current_app.config["MEETING_START_WAIT_SECONDS"]
    while True:
        meeting = _current_meeting(schedule.id)
        if meeting is not None and meeting.status == MeetingState.RUNNING.value:
            return meeting
        if meeting is None or meeting.status == MeetingState.ENDED.value or _is_stale(meeting):
            claimed = _try_claim(schedule, config, actor, meeting)
            if claimed is not None:
                return _create_on_backend(claimed, schedule, klass, config, actor)
        # Someone else is creating it right now: wait for them rather than create twice.
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                "the class is still starting; try again in a moment", code="start_in_progress"
            )
        db.session.rollback()
        time.sleep(0.1)


def _is_stale(meeting: Meeting) -> bool:
    return (
        meeting.status == MeetingState.STARTING.value
        and meeting.updated_at < utcnow() - STALE_START
    )


def _try_claim(
    schedule: Schedule, config: BackendConfig, actor: User, existing: Meeting | None
) -> Meeting | None:
    now = utcnow()
    if existing is None:
        meeting = Meeting(
            schedule_id=schedule.id,
            backend_config_id=config.id,
            backend=config.backend,
            status=MeetingState.STARTING.value,
            started_by=actor.id,
            updated_at=now,
        )
        db.session.add(meeting)
        try:
            # Atomic claim: other starters must see the 'starting' row before the slow
            # backend call, so the claim commits on its own.
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return None
        return meeting
    # Restart after end, or take over a crashed start: compare-and-set on status+updated_at.
    result = db.session.execute(
        db.update(Meeting)
        .where(
            Meeting.id == existing.id,
            Meeting.status == existing.status,
            Meeting.updated_at == existing.updated_at,
        )
        .values(
            status=MeetingState.STARTING.value,
            backend_config_id=config.id,
            backend=config.backend,
            started_by=actor.id,
            updated_at=now,
            ended_at=None,
        )
    )
    db.session.commit()  # atomic claim (as above): visible before the backend call
    if rows_matched(result) != 1:
        return None
    db.session.refresh(existing)
    return existing


def _create_on_backend(
    meeting: Meeting, schedule: Schedule, klass: Class, config: BackendConfig, actor: User
) -> Meeting:
    spec = _spec(schedule, klass, klass.teacher)
    try:
        handle = call_backend(
            config,
            "start the class",
            lambda plugin, settings: plugin.create_meeting(settings, spec),
        )
    except BaseException:
        _release_claim(meeting)  # nothing is left half-created
        raise
    meeting.backend_meeting_id = handle.meeting_id
    meeting.data = dict(handle.data)
    meeting.status = MeetingState.RUNNING.value
    meeting.started_at = utcnow()
    meeting.started_by = actor.id
    from portal.core import attendance

    attendance.record_waiting(meeting)
    # The start's notices and the class_started hook are part of the transaction that makes
    # the meeting running: a failure later in the request (the teacher's own join) must not
    # undo the news of a class that runs.
    signals.meeting_changed.send(meeting, event="started")
    # Snapshots now, while the rows are loaded: after the commit they would be read again.
    started = {
        "meeting": meeting_record(meeting),
        "klass": class_info(klass),
        "schedule": schedule_info(schedule),
    }
    unit_of_work.after_commit(lambda: hook().class_started(**started))
    # Atomic claim, its end: other starters wait for 'running', so it is committed here.
    db.session.commit()
    # Waiting pages turn into the room on this push (docs/live.md), and guests' pages too,
    # admitted or still waiting. It leaves when the start request ends, however it ends:
    # pushed with the commit above, the class's joins reached the realtime process while
    # the start was still running and, with the bundled SFU, the rush's press -> join p99
    # grew (bench/RESULTS.md).
    started_event = {"schedule_id": schedule.id, "state": "running"}
    live_state.publish_committed("class:started", started_event, schedule_id=schedule.id)
    live_state.publish_committed(
        "class:started", started_event, schedule_id=schedule.id, audience="guests"
    )
    return meeting


def _release_claim(meeting: Meeting) -> None:
    db.session.rollback()
    fresh = db.session.get(Meeting, meeting.id)
    if fresh is not None and fresh.status == MeetingState.STARTING.value:
        if fresh.started_at is None:
            db.session.delete(fresh)
        else:
            fresh.status = MeetingState.ENDED.value
        db.session.commit()  # atomic claim, released: other starters may try again now


def config_of(meeting: Meeting) -> BackendConfig:
    """The backend configuration the meeting runs on; 503 when an admin removed it."""
    return config_of_id(meeting.backend_config_id)


def config_of_id(config_id: int | None) -> BackendConfig:
    config = db.session.get(BackendConfig, config_id) if config_id is not None else None
    if config is None:
        raise ServiceUnavailable(
            "this class's meeting backend configuration was removed", code="backend_missing"
        )
    return config


def _backend_join(meeting: Meeting, participant: Participant) -> JoinTarget:
    return call_backend(
        config_of(meeting),
        "let you join",
        lambda plugin, settings: plugin.join(settings, handle_of(meeting), participant),
        backend=meeting.backend,
    )


def _join_target(meeting: Meeting, user: User, klass: Class) -> JoinTarget:
    target = _backend_join(meeting, _participant(user, klass))
    record_attendance(meeting, user_id=user.id, name=user.name, source="portal")
    # Snapshots now: after the commit they would cost two more queries on every join.
    joined = {"meeting": meeting_record(meeting), "user": user_info(user), "target": target}
    unit_of_work.after_commit(lambda: hook().participant_joined(**joined))
    return target


def join_class(actor: User, schedule_id: int) -> JoinTarget:
    """An enrolled, unblocked student (or the teacher) joins a running occurrence.

    The hottest path of the portal (thousands of students at 09:00): everything it checks
    (the occurrence and its class, the actor's staff role, enrolment and block, the meeting
    with its backend configuration, the lobby entry) is one query of columns, and the
    attendance upsert the only write; the rules are the same functions as everywhere else.
    One join is a batch of one (join_classes): the rules are written once."""
    (outcome,) = join_classes([(actor, schedule_id)])
    if isinstance(outcome, PortalError):
        raise outcome
    return outcome


def join_classes(joins: Sequence[tuple[User, int]]) -> list[JoinTarget | PortalError]:
    """Many (actor, occurrence) joins at once, each by join_class's rules: the live socket
    serves the joins of a class-start rush that arrive together this way (realtime.py).

    One query reads the rows of every join, one backend call per meeting makes the targets of
    its joiners where the backend joins in batches (BatchJoiningBackend), one statement
    upserts every joiner's attendance; each join gets its target or its own refusal (not
    enrolled, blocked, not started...), and a refused join never fails the others. Does not
    commit; participant_joined follows the commit, once per join."""
    rows = _join_rows(joins)
    outcomes: list[JoinTarget | PortalError | None] = [None] * len(joins)
    configs: dict[int, BackendConfig] = {}  # one per configuration for the whole batch
    meetings_joined: dict[int, _MeetingJoins] = {}
    for n, (actor, schedule_id) in enumerate(joins):
        row: Any = rows.get((schedule_id, actor.id))
        try:
            config, handle, participant = _admit(actor, row, configs)
        except PortalError as exc:
            outcomes[n] = exc
            continue
        group = meetings_joined.get(row.meeting_id)
        if group is None:
            group = meetings_joined[row.meeting_id] = _MeetingJoins(config, row.backend, handle)
        group.indices.append(n)
        group.participants.append(participant)
    for group in meetings_joined.values():
        for n, answer in zip(group.indices, _targets(group), strict=True):
            outcomes[n] = answer
    attended: dict[tuple[int, int], dict[str, Any]] = {}
    listening = implemented("participant_joined")
    for (actor, schedule_id), target in zip(joins, outcomes, strict=True):
        if not isinstance(target, JoinTarget):
            continue
        row = rows[(schedule_id, actor.id)]
        # Two tabs of one person in a batch are one attendance row (one upsert row: a
        # multi-row upsert may not touch the same row twice).
        attended[(row.meeting_id, actor.id)] = {
            "meeting_id": row.meeting_id,
            "user_id": actor.id,
            "display_name": actor.name,
            "at": utcnow(),
        }
        if listening:
            # Only when a plugin listens: the snapshot needs the ORM rows the join did not load.
            meeting = db.session.get(Meeting, row.meeting_id)
            assert meeting is not None  # the row above found it in this transaction
            joined = {
                "meeting": meeting_record(meeting),
                "user": user_info(actor),
                "target": target,
            }
            unit_of_work.after_commit(functools.partial(_announce_joined, joined))
    if attended:
        _upsert_attendances(list(attended.values()), PORTAL_ATTENDANCE, left=False, exact=False)
    done = [outcome for outcome in outcomes if outcome is not None]
    assert len(done) == len(joins)  # every join was refused or got its backend's target
    return done


def _announce_joined(joined: dict[str, Any]) -> None:
    hook().participant_joined(**joined)


@dataclass(slots=True)
class _MeetingJoins:
    """The admitted joins of one meeting in a batch: one backend call makes their targets."""

    config: BackendConfig
    backend: str
    handle: MeetingHandle
    indices: list[int] = field(default_factory=list)  # in the batch
    participants: list[Participant] = field(default_factory=list)


def _targets(group: _MeetingJoins) -> list[JoinTarget | PortalError]:
    """The backend's join targets of one meeting's joiners, or each one's refusal."""
    handle, participants = group.handle, group.participants
    try:
        batches = len(participants) > 1 and isinstance(
            backend_plugin(group.backend), BatchJoiningBackend
        )
    except PortalError as exc:  # the plugin was uninstalled
        return [exc] * len(participants)
    if not batches:
        outcomes: list[JoinTarget | PortalError] = []
        for participant in participants:
            try:
                outcomes.append(
                    call_backend(
                        group.config,
                        "let you join",
                        functools.partial(_join_as, handle=handle, participant=participant),
                        backend=group.backend,
                    )
                )
            except PortalError as exc:
                outcomes.append(exc)
        return outcomes

    def join_all(plugin: MeetingBackend, settings: dict[str, Any]) -> list[JoinTarget]:
        assert isinstance(plugin, BatchJoiningBackend)
        targets = list(plugin.join_many(settings, handle, participants))
        if len(targets) != len(participants):  # a plugin's bug: answered as its failure
            raise ValueError(f"join_many answered {len(targets)} of {len(participants)}")
        return targets

    try:
        return list(call_backend(group.config, "let you join", join_all, backend=group.backend))
    except PortalError as exc:
        return [exc] * len(participants)


def _join_as(
    plugin: MeetingBackend,
    settings: dict[str, Any],
    *,
    handle: MeetingHandle,
    participant: Participant,
) -> JoinTarget:
    return plugin.join(settings, handle, participant)


def _admit(
    actor: User, row: Any, configs: dict[int, BackendConfig]
) -> tuple[BackendConfig, MeetingHandle, Participant]:
    """join_class's rules on the join's row (None: no such occurrence): what the backend's
    join needs, or the refusal raised. `configs` keeps the batch's backend configurations
    by id."""
    if row is None:
        raise NotFound("no such class occurrence")
    standing = access.standing_of(row[-4:])
    access.require_member(actor, standing)
    access.raise_blocked(standing.block_scope, standing.block_reason)
    if (
        row.class_status == ClassStatus.CANCELLED.value
        or row.schedule_status == ScheduleStatus.CANCELLED.value
    ):
        raise Conflict("this class occurrence is cancelled", code="class_cancelled")
    manager = access.manages(actor, standing.staff_role)
    opens_at = _opens_at(row.starts_at, manager)
    if not manager and utcnow() < opens_at:
        raise Conflict(
            "this class opens for students at %(time)s UTC",
            code="not_open_yet",
            params={"time": opens_at.isoformat(timespec="minutes")},
        )
    _require_running(row.meeting_status)
    handle = MeetingHandle(
        backend=row.backend, meeting_id=row.backend_meeting_id or "", data=dict(row.data or {})
    )
    # Where the backend's own lobby holds the waiting room, the portal lets people through.
    lobby.require_admitted_entry(
        row.lobby_status,
        row.lobby_message,
        waits=bool(row.waiting_room)
        and not access.moderates(actor, standing.staff_role)
        and not handle.holds_waiting_room,
    )
    if row.config_id is None:
        config_of_id(None)  # 503: an admin removed the configuration
    config = configs.get(row.config_id)
    if config is None:
        # Transient (never added to the session): the row's columns in the shape
        # call_backend takes, built once per batch (a class's joins share it).
        config = configs[row.config_id] = BackendConfig(
            id=row.config_id,
            name=row.config_name,
            backend=row.config_backend,
            settings=row.settings,
        )
    participant = Participant(
        user_id=actor.id,
        name=actor.name,
        email=actor.email,
        role="moderator" if manager else "viewer",
        portal_role=portal_role(actor),
    )
    return config, handle, participant


def _join_rows(joins: Sequence[tuple[User, int]]) -> dict[tuple[int, int], Any]:
    """The one query of join_classes: each join's row by (occurrence id, user id); a join
    whose occurrence does not exist has none."""
    pairs = sorted({(schedule_id, actor.id) for actor, schedule_id in joins})
    if not pairs:
        return {}
    statement = _join_statement(staff_possible=any(a.role != "student" for a, _ in joins))
    params = {
        "pairs": pairs,
        "schedule_ids": sorted({s for s, _ in pairs}),
        "user_ids": sorted({u for _, u in pairs}),
        "now": utcnow(),
    }
    return {(row.schedule_id, row.joiner_id): row for row in db.session.execute(statement, params)}


@functools.lru_cache(maxsize=2)
def _join_statement(*, staff_possible: bool) -> Any:
    """join_classes's query, built once (Core tables and bind parameters: no ORM entities to
    load, no statement to build and cache-key on every join). The requested (occurrence,
    user) pairs pick the rows; the two plain IN lists let the database use its indexes
    before it compares the pairs."""
    schedules, klasses, meetings_, configs, users = (
        Schedule.__table__.c,
        Class.__table__.c,
        Meeting.__table__.c,
        BackendConfig.__table__.c,
        User.__table__.c,
    )
    user_id = users.id
    now = db.bindparam("now", type_=schedules.starts_at.type)
    return (
        db.select(
            schedules.id.label("schedule_id"),
            users.id.label("joiner_id"),
            schedules.class_id,
            schedules.starts_at,
            schedules.ends_at,
            schedules.status.label("schedule_status"),
            klasses.title,
            klasses.status.label("class_status"),
            klasses.waiting_room,
            meetings_.id.label("meeting_id"),
            meetings_.status.label("meeting_status"),
            meetings_.backend,
            meetings_.backend_meeting_id,
            meetings_.backend_config_id,
            meetings_.data,
            meetings_.started_at,
            meetings_.ended_at,
            configs.id.label("config_id"),
            configs.name.label("config_name"),
            configs.backend.label("config_backend"),
            configs.settings,
            *lobby.entry_columns(schedules.id, user_id),
            *access.standing_columns(  # last: standing_of(row[-4:])
                user_id,
                staff_possible=staff_possible,
                class_id=klasses.id,
                teacher_id=klasses.teacher_id,
                now=now,
            ),
        )
        .select_from(
            Schedule.__table__.join(Class.__table__, klasses.id == schedules.class_id)
            .outerjoin(Meeting.__table__, meetings_.schedule_id == schedules.id)
            .outerjoin(BackendConfig.__table__, configs.id == meetings_.backend_config_id)
            .join(User.__table__, db.true())
        )
        .where(
            schedules.id.in_(db.bindparam("schedule_ids", expanding=True)),
            users.id.in_(db.bindparam("user_ids", expanding=True)),
            db.tuple_(schedules.id, users.id).in_(db.bindparam("pairs", expanding=True)),
        )
    )


def _require_running(status: str | None) -> None:
    """409 unless the occurrence's meeting (its status, None without one) is running."""
    if status != MeetingState.RUNNING.value:
        if status == MeetingState.ENDED.value:
            raise Conflict("this class has ended", code="class_ended")
        raise Conflict("the teacher has not started this class yet", code="not_started")


def _running_meeting(meeting: Meeting | None) -> Meeting:
    _require_running(meeting.status if meeting is not None else None)
    assert meeting is not None  # _require_running refused a missing meeting
    return meeting


def backend_holds_waiting(schedule_id: int) -> bool:
    """The running meeting of this occurrence keeps its waiting room in the backend's own
    lobby (BBB's guest lobby, Jitsi's lobby): waiting pages go straight to the meeting."""
    meeting = _current_meeting(schedule_id)
    return (
        meeting is not None
        and meeting.status == MeetingState.RUNNING.value
        and handle_of(meeting).holds_waiting_room
    )


def join_as_guest(guest: Guest, schedule_id: int) -> JoinTarget:
    """An admitted guest joins as a viewer with the guest flag (docs/plugins.md): never a
    moderator, never a user id the portal knows (the backend sees minus the guest's id)."""
    schedule = invites.guest_schedule(guest, schedule_id)
    meeting = _current_meeting(schedule.id)
    # Where the running meeting's own lobby holds the waiting room, the teacher admits the
    # guest there: the portal lets a guest who asked to enter through.
    held = (
        meeting is not None
        and meeting.status == MeetingState.RUNNING.value
        and handle_of(meeting).holds_waiting_room
    )
    invites.require_admitted(guest, schedule.id, held_by_backend=held)
    if schedule.status == ScheduleStatus.CANCELLED.value:
        raise Conflict("this class occurrence is cancelled", code="class_cancelled")
    meeting = _running_meeting(meeting)
    name = invites.guest_label(guest.name)
    participant = Participant(
        user_id=-guest.id,
        name=name,
        email="",
        role="viewer",
        guest=True,
        viewer_only=guest.link.viewer_only,
    )
    target = _backend_join(meeting, participant)
    guest.left_at = None
    record_attendance(meeting, user_id=None, name=name, source="portal")
    invites.enter_presence(guest, schedule.id)
    return target


def leave_as_guest(guest: Guest) -> Guest:
    """The guest leaves: attendance records when, the lobby panel hears it."""
    if guest.schedule_id is not None and guest.status == invites.ADMITTED:
        meeting = _current_meeting(guest.schedule_id)
        if meeting is not None and meeting.status == MeetingState.RUNNING.value:
            name = invites.guest_label(guest.name)
            record_attendance(meeting, user_id=None, name=name, source="portal", left=True)
    return invites.leave(guest)


def end_class(actor: User, schedule_id: int) -> Meeting:
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or not access.is_member(actor, schedule.klass):
        raise NotFound("no such class occurrence")
    access.require_class_manager(actor, schedule.klass)
    meeting = _current_meeting(schedule.id)
    if meeting is None or meeting.status != MeetingState.RUNNING.value:
        raise Conflict("this class is not running", code="not_running")
    backend = backend_plugin(meeting.backend)
    if backend.capabilities.end:
        config = config_of(meeting)
        try:
            call_backend(
                config,
                "end the meeting",
                lambda plugin, settings: plugin.end_meeting(settings, handle_of(meeting)),
                backend=meeting.backend,
            )
        except BackendCallFailed as exc:
            if exc.failure != "refused":
                raise BackendCallFailed(
                    gettext("%(problem)s; the class is still running", problem=exc.message),
                    code=exc.code,
                    failure=exc.failure,
                    reason=exc.reason,
                ) from exc
            # The server does not know the meeting any more (it ended there): end it here too.
            log.warning("backend refused end of meeting %s: %s", meeting.id, exc.reason)
    mark_meeting_ended(meeting)
    return meeting


def occurrence_state(schedule_id: int) -> str:
    """not_started, starting, running or ended: what a guest's page and the live room
    follow (the caller checked the guest's credential, or the actor's panel access, for
    this occurrence)."""
    meeting = _current_meeting(schedule_id)
    return meeting.status if meeting else "not_started"


def meeting_state(actor: User, schedule_id: int) -> dict[str, Any]:
    """What the class page polls: started yet? ended? which backend and what it can do."""
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or not access.is_member(actor, schedule.klass):
        raise NotFound("no such class occurrence")
    meeting = _current_meeting(schedule.id)
    state = meeting.status if meeting else "not_started"
    backend = None
    if meeting is not None:
        plugin = backend_plugin(meeting.backend)
        backend = {
            "name": plugin.name,
            "label": plugin.label,
            "capabilities": plugin.capabilities.as_dict(),
        }
    return {
        "schedule_id": schedule.id,
        "state": state,
        "backend": backend,
        "started_at": meeting.started_at if meeting else None,
        "ended_at": meeting.ended_at if meeting else None,
    }


def ended_schedule_ids(schedule_ids: list[int]) -> set[int]:
    """Which of these occurrences have been taught and ended: pages stop offering Join."""
    if not schedule_ids:
        return set()
    return set(
        db.session.execute(
            db.select(Meeting.schedule_id).where(
                Meeting.schedule_id.in_(schedule_ids), Meeting.status == MeetingState.ENDED.value
            )
        ).scalars()
    )


# Services for backend plugins (callbacks, webhooks, periodic sync).


def find_meeting(backend: str, backend_meeting_id: str) -> Meeting | None:
    return (
        db.session.execute(
            db.select(Meeting).filter_by(backend=backend, backend_meeting_id=backend_meeting_id)
        )
        .scalars()
        .first()
    )


def running_meetings(backend: str) -> list[Meeting]:
    return list(
        db.session.execute(
            db.select(Meeting).filter_by(backend=backend, status=MeetingState.RUNNING.value)
        ).scalars()
    )


def settings_for_meeting(meeting: Meeting) -> dict[str, Any]:
    config = db.session.get(BackendConfig, meeting.backend_config_id)
    if config is None:
        raise NotFound("the backend configuration of this meeting was removed")
    return effective_settings(config)


def mark_meeting_ended(meeting: Meeting) -> bool:
    """Idempotent: True only the first time. The class_ended hook runs after the commit."""
    if meeting.status == MeetingState.ENDED.value:
        return False
    meeting.status = MeetingState.ENDED.value
    meeting.ended_at = utcnow()
    db.session.execute(
        db.update(Attendance)
        .where(Attendance.meeting_id == meeting.id, Attendance.left_at.is_(None))
        .values(left_at=meeting.ended_at)
    )
    db.session.flush()
    signals.meeting_changed.send(meeting, event="ended")
    live_state.publish(
        "class:ended",
        {"schedule_id": meeting.schedule_id, "state": "ended"},
        schedule_id=meeting.schedule_id,
    )
    ended = {
        "meeting": meeting_record(meeting),
        "klass": class_info(meeting.schedule.klass),
        "schedule": schedule_info(meeting.schedule),
    }
    unit_of_work.after_commit(lambda: hook().class_ended(**ended))
    return True


# Attendance rows written by the portal's own join click; any other source is the backend's.
PORTAL_ATTENDANCE = "portal"


def record_attendance(
    meeting: Meeting,
    *,
    user_id: int | None,
    name: str,
    source: str,
    left: bool = False,
    at: datetime | None = None,
) -> None:
    """Merge one join (or leave, `left`) into the person's attendance row.

    `at` is when it happened, if the backend said so (event times, not receipt times);
    without it, now. Events are merged by their time, not their arrival, so a delayed
    join older than a recorded leave does not bring the person back, and a delayed leave
    older than a newer join does not take them out. The first backend word about a row
    created by a portal join makes it a backend row, and an exact backend time then
    replaces the time of the portal click (the person may have waited on a pre-join page).
    """
    exact = at is not None
    at = at or utcnow()
    if user_id is not None:
        _upsert_attendance(meeting.id, user_id, name, source, at, left, exact)
        return
    row = db.session.execute(
        db.select(Attendance).filter_by(meeting_id=meeting.id, user_id=user_id, display_name=name)
    ).scalar_one_or_none()
    if row is None:
        row = Attendance(
            meeting_id=meeting.id,
            user_id=user_id,
            display_name=name,
            source=source,
            first_joined_at=at,
            last_seen_at=at,
            left_at=at if left else None,
        )
        db.session.add(row)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
        # A new row is complete: touching it again would cost an UPDATE per join in a storm.
        return
    columns = Attendance.__table__.c
    db.session.execute(
        db.update(Attendance.__table__)
        .where(columns.id == row.id)
        .values(
            _merged_attendance(
                columns, db.literal(at, columns.last_seen_at.type), source, left, exact
            )
        )
    )
    db.session.expire(row)


def record_present(meeting: Meeting, people: Sequence[tuple[int, str]]) -> None:
    """Many known users (user id, name) present now, as a portal join records each: one
    statement for them all (a class starting with a hundred waiting pages open)."""
    at = utcnow()
    rows = {
        user_id: {"meeting_id": meeting.id, "user_id": user_id, "display_name": name, "at": at}
        for user_id, name in people
    }
    if rows:
        _upsert_attendances(list(rows.values()), PORTAL_ATTENDANCE, left=False, exact=False)


def sync_presence(meeting: Meeting, present: list[tuple[int | None, str]], *, source: str) -> None:
    """A backend's full list of who is in now, as (user id or None, name): each is recorded
    present, and open rows of people no longer listed are closed. Does not commit."""
    for user_id, name in present:
        record_attendance(meeting, user_id=user_id, name=name, source=source)
    listed = set(present)
    now = utcnow()
    for row in db.session.execute(
        db.select(Attendance).filter_by(meeting_id=meeting.id, left_at=None)
    ).scalars():
        if (row.user_id, row.display_name) not in listed:
            row.left_at = now


def _merged_attendance(old: Any, at: Any, source: str, left: bool, exact: bool) -> dict[str, Any]:
    """SET clause merging an event at SQL time `at` into the stored row `old` (its columns).

    `last_seen_at` is the time of the newest event applied, which orders the next ones."""
    # The backend's first word on a row from a portal join is applied whatever its time
    # (the two clocks differ), and then it is a backend row.
    takeover = [(old.source == PORTAL_ATTENDANCE, at)] if source != PORTAL_ATTENDANCE else []
    values: dict[str, Any] = {
        "source": old.source if source == PORTAL_ATTENDANCE else source,
        "last_seen_at": db.case(*takeover, (old.last_seen_at <= at, at), else_=old.last_seen_at),
    }
    if left:
        # A leave older than the newest event is stale; of two leaves the later one counts.
        values["left_at"] = db.case(
            *takeover,
            (old.last_seen_at > at, old.left_at),
            (old.left_at > at, old.left_at),
            else_=at,
        )
    else:
        # A join older than the recorded leave is stale: the person stays out.
        values["left_at"] = db.case(
            *((cond, None) for cond, _ in takeover), (old.left_at > at, old.left_at), else_=None
        )
        first = (old.first_joined_at > at, at)
        values["first_joined_at"] = db.case(
            *(takeover if exact else []), first, else_=old.first_joined_at
        )
    return values


def _upsert_attendance(
    meeting_id: int, user_id: int, name: str, source: str, at: datetime, left: bool, exact: bool
) -> None:
    """One statement for a known user's join or leave (a storm of joins costs one write each).
    Guests (no user id) go the long way: NULLs never conflict in a unique index."""
    row = {"meeting_id": meeting_id, "user_id": user_id, "display_name": name, "at": at}
    _upsert_attendances([row], source, left=left, exact=exact)


def _upsert_attendances(
    rows: list[dict[str, Any]], source: str, *, left: bool, exact: bool
) -> None:
    """The same upsert for many known users' events of one kind, sent as one executemany
    (rows: meeting_id, user_id, display_name, at; at most one per attendance row)."""
    dialect = db.session.get_bind().dialect.name
    db.session.execute(_upsert_statement(dialect, source, left, exact), rows)


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect: str, source: str, left: bool, exact: bool) -> Any:
    """The upsert for one kind of event, built once (a join storm would otherwise spend
    more CPU building and cache-keying the statement than the database spends running it);
    the row's values are bind parameters. `dialect` keys the cache: the statement is the
    database's own INSERT ... ON CONFLICT."""
    table = Attendance.__table__
    at = db.bindparam("at", type_=table.c.last_seen_at.type)
    statement = insert_with_conflicts(table, dialect=dialect).values(
        meeting_id=db.bindparam("meeting_id"),
        user_id=db.bindparam("user_id"),
        display_name=db.bindparam("display_name"),
        source=source,
        first_joined_at=at,
        last_seen_at=at,
        left_at=at if left else None,
    )
    return statement.on_conflict_do_update(
        index_elements=["meeting_id", "user_id", "display_name"],
        set_=_merged_attendance(table.c, statement.excluded.last_seen_at, source, left, exact),
    )


def store_recording(
    meeting: Meeting | MeetingRecord, info: RecordingInfo, *, storage_key: str | None = None
) -> tuple[Recording, bool]:
    """Insert or refresh a recording reported by a backend. Idempotent; returns (row, created).

    Accepts the contract's MeetingRecord too: plugins/native_sfu still hands back the
    `meeting` its class_ended hook received (remove once it uses services.register_recording)."""
    if isinstance(meeting, MeetingRecord):
        found = db.session.get(Meeting, meeting.id)
        if found is None:
            raise NotFound("no such meeting")
        meeting = found
    existing = db.session.execute(
        db.select(Recording).filter_by(
            backend=meeting.backend,
            backend_config_id=meeting.backend_config_id,
            backend_record_id=info.record_id,
        )
    ).scalar_one_or_none()
    created = existing is None
    row = existing or Recording(
        class_id=meeting.schedule.class_id,
        meeting_id=meeting.id,
        backend=meeting.backend,
        backend_config_id=meeting.backend_config_id,
        backend_record_id=info.record_id,
        title=info.title,
        visibility=initial_visibility(info.published),
    )
    row.title = info.title or row.title
    row.recorded_at = info.recorded_at or row.recorded_at
    row.duration_seconds = (
        info.duration_seconds if info.duration_seconds is not None else row.duration_seconds
    )
    row.playback_url = info.playback_url or row.playback_url
    row.format = info.format or row.format
    row.preview_images = list(info.preview_images) or row.preview_images or []
    if storage_key:
        row.storage_key = storage_key
    if created:
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            # A concurrent delivery of the same callback won the race.
            again = db.session.execute(
                db.select(Recording).filter_by(
                    backend=meeting.backend,
                    backend_config_id=meeting.backend_config_id,
                    backend_record_id=info.record_id,
                )
            ).scalar_one()
            return again, False
        signals.recording_stored.send(row)
        ready = recording_ref(row)
        unit_of_work.after_commit(lambda: hook().recording_ready(recording=ready))
    db.session.flush()
    return row, created
