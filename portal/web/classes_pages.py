"""Teacher pages: create and edit a class, manage its students; the class page for everyone."""

from __future__ import annotations

import logging

from flask import render_template

from portal.core import (
    access,
    backends,
    blocking,
    classes,
    meetings,
    presentations,
    room_settings,
    site_settings,
    staff,
)
from portal.core.errors import NotFound
from portal.core.models import User
from portal.core.notifications.channels import channel_choices
from portal.core.registry import hook, implemented, plugins
from portal.core.types import utcnow
from portal.web.pages import web
from portal.web.support import features, page, user_zone, zone_names

log = logging.getLogger(__name__)


def _backend_choices(user: User | None = None, current_id: int | None = None) -> list[dict]:
    """The backends of the class form: those offered to teachers; administrators also see
    the enabled ones that are not offered, greyed out, with the reason; the class's own
    backend stays listed (saving the form must not move the class off it)."""
    out = []
    admin = user is not None and user.is_admin
    for config in backends.enabled_configs():
        if not (admin or config.id == current_id or backends.is_offered(config)):
            continue
        plugin = plugins().backends[config.backend]
        out.append(
            {
                "id": config.id,
                "name": config.name,
                "label": plugin.label,
                "is_default": config.is_default,
                "capabilities": plugin.capabilities.as_dict(),
                "not_offered": backends.not_offered_reason(config),
                "room_settings": room_settings.honoured_by(plugin),
            }
        )
    return out


def _default_room_settings(choices: list[dict]) -> list[str]:
    """What the school's default backend honours (the form's "School default" choice)."""
    default = next((b for b in choices if b["is_default"]), None)
    if default is None and len(choices) == 1:
        default = choices[0]
    return default["room_settings"] if default else room_settings.honoured_by(None)


def _form_context(user: User, current_backend_id: int | None = None) -> dict:
    settings = site_settings.read_site_settings()
    choices = _backend_choices(user, current_backend_id)
    return {
        "backends": choices,
        "default_room_settings": _default_room_settings(choices),
        "room": {**settings["room_defaults"]},
        "room_labels": room_settings.LABELS,
        "screen_share_choices": room_settings.SCREEN_SHARE_CHOICES,
        "zones": zone_names(),
        "default_zone": str(user_zone(user)),
        "reminder_offsets": settings["reminder_offsets"],
        "reminder_channels": settings["reminder_channels"],
        "channels": channel_choices(),
        "site_waiting_room": settings["waiting_room"],
    }


@web.get("/classes/new")
@page("teacher", "admin")
def class_new(user: User):
    return render_template("classes/form.html", user=user, klass=None, **_form_context(user))


@web.get("/classes/<int:class_id>/edit")
@page("teacher", "admin")
def class_edit(user: User, class_id: int):
    klass = access.get_class_for(user, class_id)
    if not access.can_manage_class(user, klass):
        raise NotFound("no such class")
    context = _form_context(user, klass.backend_config_id)
    context["room"] = klass.room
    context["reminder_offsets"] = klass.reminder_offsets
    context["reminder_channels"] = klass.reminder_channels
    return render_template("classes/form.html", user=user, klass=klass, **context)


@web.get("/classes/<int:class_id>")
@page()
def class_page(user: User, class_id: int):
    klass = access.get_class_for(user, class_id)
    manager = access.can_manage_class(user, klass)
    moderator = manager or access.can_moderate_class(user, klass)
    schedules = classes.list_schedules(user, klass.id)
    now = utcnow()
    upcoming = [s for s in schedules if s.ends_at > now]
    past = [s for s in schedules if s.ends_at <= now]
    enrolments = classes.list_enrolments(user, klass.id) if manager else []
    blocks = (
        {b.user_id: b for b in blocking.list_blocks(user, class_id=klass.id) if b.scope == "class"}
        if manager
        else {}
    )
    backend = None
    if klass.backend_config_id:
        backend = next(
            (
                b
                for b in _backend_choices(user, klass.backend_config_id)
                if b["id"] == klass.backend_config_id
            ),
            None,
        )
    return render_template(
        "classes/detail.html",
        user=user,
        klass=klass,
        manager=manager,
        moderator=moderator,
        owner=access.can_own_class(user, klass),
        staff_members=staff.list_staff(user, klass.id) if moderator else [],
        upcoming=upcoming,
        ended=meetings.ended_schedule_ids([s.id for s in upcoming]),
        past=list(reversed(past))[:20],
        # Occurrences with presented or annotated slides link their annotated PDF.
        annotated=presentations.presented_schedule_ids([s.id for s in schedules])
        if manager
        else set(),
        enrolments=enrolments,
        blocks=blocks,
        backend=backend,
        features=features(),
        join_opens_before=meetings.join_opens_before(manager),
        now=now,
        plugin_links=_plugin_links(klass, user) if manager else [],
    )


def _plugin_links(klass, user: User) -> list:
    """The plugins' links about this class for the people who manage it (class_page_links);
    a failing plugin loses its links, never the page."""
    if not implemented("class_page_links"):
        return []
    from portal.core.snapshots import class_info, user_info

    try:
        groups = hook().class_page_links(klass=class_info(klass), user=user_info(user))
    except Exception:
        log.exception("a plugin's class_page_links failed for class %s", klass.id)
        return []
    return [link for group in groups for link in group or []]
