"""Notification endpoints: your own notifications, unsubscribe by signed token.

A blueprint of its own under /api (registered in create_app), so this module needs no
edit of the shared API package; the endpoints still appear in /api/openapi.json.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from portal.api.framework import current_actor, endpoint
from portal.core import notifications

api = Blueprint("notifications_api", __name__, url_prefix="/api")


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    channel: str
    schedule_id: int | None
    status: str
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    error: str | None


class NotificationList(BaseModel):
    items: list[NotificationOut]


class UnsubscribeIn(BaseModel):
    token: str = Field(min_length=1, max_length=500)


class UnsubscribeOut(BaseModel):
    user_id: int
    channel: str
    notify_email: bool
    notify_sms: bool


@endpoint(api, "/me/notifications", summary="Your recent and upcoming notifications",
          response=NotificationList, tags=["notifications"])
def my_notifications():
    rows = notifications.list_for_user(current_actor())
    return NotificationList(items=[NotificationOut.model_validate(r) for r in rows])


@endpoint(api, "/notifications/unsubscribe", "POST", summary="Turn a channel off with an unsubscribe link's token",
          body=UnsubscribeIn, response=UnsubscribeOut, auth=False, tags=["notifications"], errors=[404])
def unsubscribe(body: UnsubscribeIn):
    user, channel = notifications.unsubscribe(body.token)
    return UnsubscribeOut(user_id=user.id, channel=channel, notify_email=user.notify_email,
                          notify_sms=user.notify_sms)
