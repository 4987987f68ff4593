"""The class room page of one occurrence: start/end (teacher), wait and join (student),
the meeting itself (embedded or in a new tab) and the live panel beside it."""

from __future__ import annotations

from flask import current_app, render_template

from portal.core import access, classes, lobby, meetings, presentations
from portal.core.models import User
from portal.core.types import utcnow
from portal.web.pages import web
from portal.web.support import features, page


@web.get("/schedules/<int:schedule_id>")
@page()
def room(user: User, schedule_id: int):
    schedule = classes.get_schedule_for(user, schedule_id)
    klass = schedule.klass
    manager = access.can_manage_class(user, klass)
    state = meetings.meeting_state(user, schedule.id)
    block = None if manager else access.active_block(user, klass.id)
    opens_at = meetings.join_opens_at(schedule, manager)
    return render_template(
        "room/room.html",
        user=user,
        schedule=schedule,
        klass=klass,
        manager=manager,
        moderator=access.can_moderate_class(user, klass),
        waiting_room=lobby.waiting_room_on(klass),
        state=state,
        block=block,
        opens_at=opens_at,
        features=features(),
        now=utcnow(),
        # Backends with slides and a whiteboard of their own (BigBlueButton) keep theirs.
        board_viewer=not presentations.has_own_presentation(schedule),
        # Empty: the realtime server answers on the page's own origin (/socket.io/).
        realtime_url=current_app.config.get("REALTIME_URL") or "",
    )
