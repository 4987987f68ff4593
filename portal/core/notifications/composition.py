"""Composition: the subject, text, HTML and calendar attachment of one row, and the signed
unsubscribe links every message carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Template

from portal.core.errors import NotFound
from portal.core.models import Class, Notification, Recording, Schedule, User
from portal.core.notifications.channels import address_for, registered_channels
from portal.core.notifications.planning import upcoming_occurrences
from portal.core.notifications.states import NotificationKind as Kind
from portal.core.notifications.states import NotificationStatus as Status
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import (
    _,
    current_locale,
    force_locale,
    format_local,
    lazy_gettext,
    ngettext,
    recipient_locale,
)
from portal.plugins.types import Attachment, NotificationMessage


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="portal.unsubscribe")


def unsubscribe_token(user: User, channel: str) -> str:
    return _serializer().dumps({"u": user.id, "c": channel})


def unsubscribe_url(user: User, channel: str) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(user, channel)}"


def read_unsubscribe_token(token: str) -> tuple[User, str]:
    try:
        data = _serializer().loads(token)
        user = db.session.get(User, int(data["u"]))
        channel = str(data["c"])
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise NotFound("this unsubscribe link is not valid", code="invalid_token") from exc
    if user is None or channel not in registered_channels():
        raise NotFound("this unsubscribe link is not valid", code="invalid_token")
    return user, channel


def unsubscribe(token: str) -> tuple[User, str]:
    """Turn one channel off for the user the signed link names; cancel what is pending."""
    from portal.core import audit

    user, channel = read_unsubscribe_token(token)
    user.choose_channel(channel, False)  # any registered channel, a plugin's too
    db.session.execute(
        sa.update(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.channel == channel,
            Notification.status == Status.PENDING,
        )
        .values(status=Status.CANCELLED, error=f"the user turned {channel} notifications off")
        .execution_options(synchronize_session=False)
    )
    audit.record(user, "notifications.unsubscribe", "user", user.id, channel=channel)
    return user, channel


def _local(dt: datetime, tz_name: str) -> str:
    """The time in the recipient's zone and language ("lundi 7 décembre 2026, 09:30")."""
    return f"{format_local(dt, ZoneInfo(tz_name), 'full_datetime')} ({tz_name})"


def _ics(schedules: list[Schedule], cancelled: bool) -> Attachment:
    """One VEVENT per occurrence; the UID is per occurrence, so a later move or
    cancellation updates the very event an invitation or reminder put in the calendar."""
    from icalendar import Calendar, Event

    base = current_app.config["BASE_URL"].rstrip("/")
    host = base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "portal"
    calendar = Calendar()
    calendar.add("prodid", "-//Classroom portal//notifications//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    for schedule in schedules:
        event = Event()
        event.add("uid", f"schedule-{schedule.id}@{host}")
        event.add("summary", schedule.klass.title)
        event.add("dtstart", schedule.starts_at)
        event.add("dtend", schedule.ends_at)
        event.add("dtstamp", utcnow())
        # Calendar clients apply an update only if SEQUENCE grows: minutes since 2020 always do.
        event.add("sequence", int((utcnow().timestamp() - 1577836800) // 60))
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("url", f"{base}/")
        if schedule.klass.description:
            event.add("description", schedule.klass.description)
        calendar.add_component(event)
    method = "CANCEL" if cancelled else "REQUEST"
    return Attachment(
        filename="class.ics",
        content_type=f"text/calendar; method={method}; charset=UTF-8",
        data=calendar.to_ical(),
    )


# Translated when composed, in the recipient's language (lazy: the locale is chosen later).
SUBJECTS: dict[str, Any] = {  # lazy strings
    Kind.REMINDER: lazy_gettext("Reminder: %(title)s starts %(when)s"),
    Kind.CLASS_STARTED: lazy_gettext("%(title)s has started: join now"),
    Kind.CLASS_CANCELLED: lazy_gettext("Cancelled: %(title)s on %(when)s"),
    Kind.CLASS_MOVED: lazy_gettext("Moved: %(title)s is now on %(when)s"),
    Kind.RECORDING_AVAILABLE: lazy_gettext("Recording available: %(title)s"),
    Kind.CLASS_INVITATION: lazy_gettext("You are enrolled in %(title)s: first class %(when)s"),
}


def _relative(minutes: int) -> str:
    if minutes <= 0:
        return _("now")
    if minutes % 1440 == 0:
        return ngettext("in %(num)d day", "in %(num)d days", minutes // 1440)
    if minutes % 60 == 0:
        return ngettext("in %(num)d hour", "in %(num)d hours", minutes // 60)
    return ngettext("in %(num)d minute", "in %(num)d minutes", minutes)


class BatchComposition:
    """What the messages of one delivery batch share, prepared once: the compiled templates
    and each occurrence's calendar attachment per language (10,000 reminders of one class:
    one .ics per language)."""

    TEMPLATES = ("notifications/sms.txt", "notifications/email.txt", "notifications/email.html")

    def __init__(self) -> None:
        env = current_app.jinja_env
        self.templates: dict[str, Template] = {
            name: env.get_template(name) for name in self.TEMPLATES
        }
        self._calendars: dict[tuple[int, bool, str], Attachment] = {}

    def template(self, name: str) -> Template:
        return self.templates[name]

    def calendar(self, schedule: Schedule, cancelled: bool) -> Attachment:
        key = (schedule.id, cancelled, current_locale())
        if key not in self._calendars:
            self._calendars[key] = _ics([schedule], cancelled=cancelled)
        return self._calendars[key]


def compose(row: Notification, batch: BatchComposition | None = None) -> NotificationMessage:
    """Subject, text, HTML and (for calendar changes) an .ics for one row, in the
    recipient's language (theirs, else the school's): the Celery task has no request.
    `batch` shares the compiled templates and attachments between the rows of one batch."""
    user = db.session.get_one(User, row.user_id)
    with force_locale(recipient_locale(user)):
        return _compose(row, user, batch)


def _compose(row: Notification, user: User, batch: BatchComposition | None) -> NotificationMessage:
    from portal.core import accounts

    if row.kind in accounts.ACCOUNT_KINDS:
        return accounts.compose_account_message(row, user)
    schedule = db.session.get(Schedule, row.schedule_id) if row.schedule_id else None
    recording = None
    if row.kind == Kind.RECORDING_AVAILABLE and row.key.isdigit():
        recording = db.session.get(Recording, int(row.key))
    klass = (
        schedule.klass
        if schedule
        else (db.session.get(Class, recording.class_id) if recording else None)
    )
    tz_name = user.timezone or (klass.timezone if klass else "UTC")
    upcoming = (
        upcoming_occurrences(klass.id)
        if klass is not None and row.kind == Kind.CLASS_INVITATION
        else []
    )
    base = current_app.config["BASE_URL"].rstrip("/")
    context = {
        "kind": row.kind,
        "user": user,
        "klass": klass,
        "title": klass.title if klass else _("your class"),
        "when": _local(schedule.starts_at, tz_name) if schedule else "",
        "relative": _relative(int(row.key))
        if row.kind == Kind.REMINDER and row.key.isdigit()
        else "",
        "whole_series": row.kind == Kind.CLASS_CANCELLED and row.key == "class",
        "occurrences": len(upcoming),
        "recording": recording,
        "portal_url": f"{base}/",
        "join_url": f"{base}/",
        "school_name": current_app.config.get("SCHOOL_NAME", ""),
        "unsubscribe_url": unsubscribe_url(user, row.channel),
        "channel": row.channel,
    }
    if recording is not None and recording.playback_url:
        context["recording_url"] = recording.playback_url
    subject = str(SUBJECTS[row.kind]) % {"title": context["title"], "when": context["when"]}
    template = batch.template if batch else current_app.jinja_env.get_template
    recipient = address_for(user, row.channel)
    if row.channel == "sms":
        text = template("notifications/sms.txt").render(**context).strip()
        html = None
    else:  # email and channels of other notifiers get the full text (and HTML)
        text = template("notifications/email.txt").render(**context)
        html = template("notifications/email.html").render(**context)
    attachments = []
    if (
        row.channel == "email"
        and schedule is not None
        and row.kind in (Kind.REMINDER, Kind.CLASS_MOVED, Kind.CLASS_CANCELLED)
    ):
        cancelled = row.kind == Kind.CLASS_CANCELLED
        attachments.append(
            batch.calendar(schedule, cancelled) if batch else _ics([schedule], cancelled)
        )
    elif row.channel == "email" and klass is not None and row.kind == Kind.CLASS_INVITATION:
        attachments.append(_ics(upcoming, cancelled=False))
    return NotificationMessage(
        channel=row.channel,
        recipient=recipient,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        notification_id=row.id,
        metadata={
            "kind": row.kind,
            "unsubscribe_url": context["unsubscribe_url"],
            "class_title": context["title"],
            "schedule_id": row.schedule_id,
            "user_id": user.id,
            "school_name": context["school_name"],
            "locale": recipient_locale(user),  # a notifier's own words (its layout) match
        },
    )
