from __future__ import annotations

from portal.api import api
from portal.api.content_schemas import ScheduleMovedOut
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import (
    CalendarQuery,
    ClassCreatedOut,
    ClassIn,
    ClassOut,
    ClassPage,
    ClassUpdateIn,
    EnrolIn,
    EnrolmentOut,
    PageQuery,
    ScheduleMoveIn,
    ScheduleOut,
    StaffIn,
    StaffOut,
)
from portal.core import access, classes, staff
from portal.core import calendar as calendar_service


@endpoint(
    api,
    "/classes",
    summary="Classes you teach, attend, or (admins) all",
    query=PageQuery,
    response=ClassPage,
    tags=["classes"],
)
def list_classes(query: PageQuery):
    rows, total = classes.list_classes(current_actor(), limit=query.limit, offset=query.offset)
    return ClassPage(
        items=[ClassOut.model_validate(c) for c in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


@endpoint(
    api,
    "/classes",
    "POST",
    summary="Create a one-off or recurring class",
    body=ClassIn,
    response=ClassCreatedOut,
    status=201,
    tags=["classes"],
)
def create_class(body: ClassIn):
    actor = current_actor()
    klass = classes.create_class(actor, classes.ClassInput(**body.model_dump()))
    schedules = classes.list_schedules(actor, klass.id)
    conflicts = []
    for schedule in schedules:
        conflicts.extend(
            classes.teacher_conflicts(
                klass.teacher_id, schedule.starts_at, schedule.ends_at, exclude_class=klass.id
            )
        )
    out = ClassCreatedOut(
        **ClassOut.model_validate(klass).model_dump(),
        schedules=[ScheduleOut.model_validate(s) for s in schedules],
        conflicts=[ScheduleOut.model_validate(s) for s in {c.id: c for c in conflicts}.values()],
    )
    return out


@endpoint(api, "/classes/<int:class_id>", summary="One class", response=ClassOut, tags=["classes"])
def get_class(class_id: int):
    return ClassOut.model_validate(access.get_class_for(current_actor(), class_id))


@endpoint(
    api,
    "/classes/<int:class_id>",
    "PATCH",
    summary="Change a class (its teacher or an admin)",
    body=ClassUpdateIn,
    response=ClassOut,
    tags=["classes"],
    errors=[409],
)
def update_class(class_id: int, body: ClassUpdateIn):
    changes = classes.ClassChanges(**body.model_dump())
    return ClassOut.model_validate(classes.update_class(current_actor(), class_id, changes))


@endpoint(
    api,
    "/classes/<int:class_id>/cancel",
    "POST",
    summary="Cancel a class and its future occurrences",
    response=ClassOut,
    tags=["classes"],
)
def cancel_class(class_id: int):
    return ClassOut.model_validate(classes.cancel_class(current_actor(), class_id))


@endpoint(
    api,
    "/classes/<int:class_id>/schedules",
    summary="All occurrences of a class",
    response=list[ScheduleOut],
    tags=["schedules"],
)
def class_schedules(class_id: int):
    return [
        ScheduleOut.model_validate(s) for s in classes.list_schedules(current_actor(), class_id)
    ]


@endpoint(
    api,
    "/classes/<int:class_id>/enrolments",
    summary="Students enrolled in a class",
    response=list[EnrolmentOut],
    tags=["enrolments"],
)
def list_enrolments(class_id: int):
    return [
        EnrolmentOut.model_validate(e) for e in classes.list_enrolments(current_actor(), class_id)
    ]


@endpoint(
    api,
    "/classes/<int:class_id>/enrolments",
    "POST",
    summary="Enrol students",
    body=EnrolIn,
    response=list[EnrolmentOut],
    status=201,
    tags=["enrolments"],
    errors=[409],
)
def enrol(class_id: int, body: EnrolIn):
    actor = current_actor()
    classes.enrol(actor, class_id, body.user_ids)
    return [EnrolmentOut.model_validate(e) for e in classes.list_enrolments(actor, class_id)]


@endpoint(
    api,
    "/classes/<int:class_id>/enrolments/<int:user_id>",
    "DELETE",
    summary="Remove a student from a class",
    tags=["enrolments"],
)
def unenrol(class_id: int, user_id: int):
    classes.unenrol(current_actor(), class_id, user_id)


@endpoint(
    api,
    "/classes/<int:class_id>/staff",
    summary="Co-teachers and teaching assistants of a class",
    response=list[StaffOut],
    tags=["classes"],
)
def list_staff(class_id: int):
    return [StaffOut.model_validate(s) for s in staff.list_staff(current_actor(), class_id)]


@endpoint(
    api,
    "/classes/<int:class_id>/staff",
    "POST",
    summary="Add a teacher (by email) as co-teacher or assistant, or change their role (owner)",
    body=StaffIn,
    response=StaffOut,
    status=201,
    tags=["classes"],
)
def add_staff(class_id: int, body: StaffIn):
    return StaffOut.model_validate(
        staff.add_staff(current_actor(), class_id, body.email, body.role)
    )


@endpoint(
    api,
    "/classes/<int:class_id>/staff/<int:user_id>",
    "DELETE",
    summary="Take a co-teacher or assistant off a class (owner)",
    tags=["classes"],
)
def remove_staff(class_id: int, user_id: int):
    staff.remove_staff(current_actor(), class_id, user_id)


@endpoint(
    api,
    "/schedules",
    summary="Your class occurrences in a date range (calendar)",
    query=CalendarQuery,
    response=list[ScheduleOut],
    tags=["schedules"],
)
def calendar(query: CalendarQuery):
    return [
        ScheduleOut.model_validate(s)
        for s in classes.schedules_in_range(current_actor(), query.start, query.end)
    ]


@endpoint(
    api,
    "/schedules/<int:schedule_id>",
    summary="One class occurrence",
    response=ScheduleOut,
    tags=["schedules"],
)
def get_schedule(schedule_id: int):
    return ScheduleOut.model_validate(classes.get_schedule_for(current_actor(), schedule_id))


@endpoint(
    api,
    "/schedules/<int:schedule_id>",
    "PATCH",
    summary="Move one occurrence; `conflicts` lists the teacher's overlapping occurrences",
    body=ScheduleMoveIn,
    response=ScheduleMovedOut,
    tags=["schedules"],
    errors=[409],
)
def move_schedule(schedule_id: int, body: ScheduleMoveIn):
    schedule, conflicts = calendar_service.move_occurrence(
        current_actor(), schedule_id, body.starts_at, body.duration_minutes
    )
    return ScheduleMovedOut(
        **ScheduleOut.model_validate(schedule).model_dump(),
        conflicts=[ScheduleOut.model_validate(c) for c in conflicts],
    )


@endpoint(
    api,
    "/schedules/<int:schedule_id>/cancel",
    "POST",
    summary="Cancel one occurrence",
    response=ScheduleOut,
    tags=["schedules"],
)
def cancel_schedule(schedule_id: int):
    return ScheduleOut.model_validate(classes.cancel_occurrence(current_actor(), schedule_id))
